"""Dead letters: list them with their error, put them back on their queue, or purge them.

dramatiq dead-letters into ``<queue>.XQ``. Browsing takes every message without
acknowledging it and hands back the ones not acted on, so a listing changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
from pymongo.database import Database

from services.bootstrap import amqp_url_with_defaults
from services.deadletters import DEAD_LETTERS
from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE

QUEUES = (COMMANDS_QUEUE, NOTIFICATIONS_QUEUE)


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.XQ"


@dataclass
class DeadLetter:
    message_id: str
    queue: str
    body: dict[str, Any]
    delivery_tag: int
    dead_since: datetime | None
    tries: int
    error: str | None = None

    @property
    def summary(self) -> str:
        args = self.body.get("args") or [{}]
        first = args[0] if isinstance(args[0], dict) else {}
        kind = (first.get("command") or {}).get("type") or first.get("type") or "?"
        return f"{self.body.get('actor_name', '?')} {kind} delivery {first.get('delivery_id', '?')}"


def _dead_since(properties: pika.BasicProperties) -> datetime | None:
    deaths = (properties.headers or {}).get("x-death") or []
    when = deaths[0].get("time") if deaths else None
    return when.replace(tzinfo=UTC) if isinstance(when, datetime) else None


@contextmanager
def browsing(
    amqp_url: str, db: Database
) -> Iterator[tuple[pika.adapters.blocking_connection.BlockingChannel, list[DeadLetter]]]:
    """Every dead letter, held unacknowledged; whatever the caller does not ack goes back."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url_with_defaults(amqp_url)))
    channel = connection.channel()
    channel.confirm_delivery()
    letters: list[DeadLetter] = []
    try:
        for queue in QUEUES:
            try:
                channel.queue_declare(dead_letter_queue(queue), passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                channel = connection.channel()  # never used yet: no dead letters there
                channel.confirm_delivery()
                continue
            while True:
                method, properties, raw = channel.basic_get(
                    dead_letter_queue(queue), auto_ack=False
                )
                if method is None:
                    break
                body = json.loads(raw)
                letters.append(
                    DeadLetter(
                        message_id=body.get("message_id", "?"),
                        queue=queue,
                        body=body,
                        delivery_tag=method.delivery_tag,
                        dead_since=_dead_since(properties),
                        tries=int((body.get("options") or {}).get("retries", 0)) + 1,
                    )
                )
        # No letters, no question: FerretDB would scan the records for an empty $in.
        ids = [d.message_id for d in letters]
        errors = {r["_id"]: r for r in db[DEAD_LETTERS].find({"_id": {"$in": ids}})} if ids else {}
        for letter in letters:
            record = errors.get(letter.message_id)
            letter.error = record["error"] if record else None
        yield channel, letters
    finally:
        if channel.is_open:
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        connection.close()


def requeue(channel: Any, letter: DeadLetter) -> None:
    """Publish the message again on its own queue, with its retries reset, then drop the copy."""
    body = dict(letter.body)
    options = {
        k: v for k, v in (body.get("options") or {}).items() if k not in ("retries", "traceback")
    }
    body["options"] = options
    channel.basic_publish(
        "", letter.queue, json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2)
    )
    channel.basic_ack(letter.delivery_tag)


def purge(amqp_url: str, db: Database) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url_with_defaults(amqp_url)))
    purged = 0
    try:
        for queue in QUEUES:
            channel = connection.channel()
            try:
                purged += channel.queue_purge(dead_letter_queue(queue)).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                continue
    finally:
        connection.close()
    db[DEAD_LETTERS].delete_many({})
    return purged
