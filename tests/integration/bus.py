"""Publishing onto the real broker as a system outside Python would: a dramatiq message
written as plain JSON (shared/contracts/schemas/dramatiq-message.json), confirmed by RabbitMQ."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pika

from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import OpenDelivery
from shared.domain.ids import delivery_id_for
from shared.domain.roles import Actor, Role


def open_command(party: str) -> CommandEnvelope:
    """The marketplace's ``open_delivery`` of a new order (a basic delivery), as the bus
    carries it; its customer and ISV are ``customer-<party>`` and ``isv-<party>``."""
    order_id = f"order-{uuid.uuid4().hex[:8]}"
    delivery_id = delivery_id_for(order_id)
    return CommandEnvelope(
        command_id=f"open:{delivery_id}",
        delivery_id=delivery_id,
        actor=Actor(id="marketplace", role=Role.MARKETPLACE),
        issued_at=datetime.now(UTC),
        command=OpenDelivery(
            order_id=order_id,
            order_spec="Company website, 5 pages",
            product_id="prod-website",
            isv_id=f"isv-{party}",
            customer_id=f"customer-{party}",
            customer_email=f"customer-{party}@customer.example.com",
            isv_email=f"isv-{party}@isv.example.com",
            process="basic",
        ),
    )


def dramatiq_message(
    queue: str, actor: str, payload: dict[str, Any], message_id: str | None = None
) -> dict[str, Any]:
    """The dramatiq message whose one argument is ``payload``, for ``actor`` on ``queue``."""
    return {
        "queue_name": queue,
        "actor_name": actor,
        "args": [payload],
        "kwargs": {},
        "options": {},
        "message_id": message_id or uuid.uuid4().hex,
        "message_timestamp": int(time.time() * 1000),
    }


def publish_json(amqp_url: str, routing_key: str, message: dict[str, Any]) -> None:
    """Publish ``message`` persistently through the default exchange; returns once RabbitMQ
    confirmed it (publisher confirms)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "", routing_key, json.dumps(message).encode(), pika.BasicProperties(delivery_mode=2)
        )
    finally:
        connection.close()


def publish_raw(
    amqp_url: str, queue: str, actor: str, payload: dict[str, Any], message_id: str | None = None
) -> None:
    """``payload`` for ``actor`` onto ``queue``, as one confirmed plain-JSON dramatiq message."""
    publish_json(amqp_url, queue, dramatiq_message(queue, actor, payload, message_id))
