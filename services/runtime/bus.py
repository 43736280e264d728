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
    """A message for the workflow's ``apply_command`` actor on ``dc.commands``.

    Parameters:
      envelope(CommandEnvelope): The command; its JSON form is the one positional argument.

    Returns:
      dramatiq.Message: Its ``message_id`` is the command id, so a retried publish is the
      same message.
    """
    return dramatiq.Message(
        queue_name=COMMANDS_QUEUE,
        actor_name=APPLY_COMMAND_ACTOR,
        args=(envelope.model_dump(mode="json"),),
        kwargs={},
        options={},
        message_id=envelope.command_id,
    )


def event_message(event: Event) -> dramatiq.Message:
    """A message for the notifier's ``send_notifications`` actor on ``dc.notifications``.

    Parameters:
      event(Event): The event; its JSON form is the one positional argument.

    Returns:
      dramatiq.Message: Its ``message_id`` is the event id, stable across relays.
    """
    return dramatiq.Message(
        queue_name=NOTIFICATIONS_QUEUE,
        actor_name=SEND_NOTIFICATIONS_ACTOR,
        args=(event.model_dump(mode="json"),),
        kwargs={},
        options={},
        message_id=event.event_id,
    )


async def publish(broker: RabbitmqBroker, message: dramatiq.Message) -> None:
    """Publish and wait for the broker's confirm; pika blocks, so it runs in a thread.

    Parameters:
      broker(RabbitmqBroker): Made with ``confirm_delivery=True`` (``bootstrap.make_broker``).
      message(dramatiq.Message): As from :func:`command_message` or :func:`event_message`.

    Raises:
      dramatiq.errors.ConnectionClosed: After dramatiq's own attempts, the broker was still
        unreachable or refused the message (a publisher-confirm nack, or unroutable).
    """
    await asyncio.to_thread(broker.enqueue, message)
