"""Publishing onto the real broker as a system outside Python would: a dramatiq message
written as plain JSON (shared/contracts/schemas/dramatiq-message.json), confirmed by RabbitMQ."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pika


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
