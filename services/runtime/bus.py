"""dramatiq messages for our envelopes, and publishing them without blocking the event loop."""

from __future__ import annotations

import asyncio

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from shared.domain.events import Event


def command_message(envelope: CommandEnvelope) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=COMMANDS_QUEUE,
        actor_name=APPLY_COMMAND_ACTOR,
        args=(envelope.model_dump(mode="json"),),
        kwargs={},
        options={},
        message_id=envelope.command_id,
    )


def event_message(event: Event) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=NOTIFICATIONS_QUEUE,
        actor_name=SEND_NOTIFICATIONS_ACTOR,
        args=(event.model_dump(mode="json"),),
        kwargs={},
        options={},
        message_id=event.event_id,
    )


async def publish(broker: RabbitmqBroker, message: dramatiq.Message) -> None:
    """Publish and wait for the broker's confirm; pika blocks, so it runs in a thread."""
    await asyncio.to_thread(broker.enqueue, message)
