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

from services.runtime.bootstrap import amqp_parameters
from services.runtime.collections import DEAD_LETTERS
from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE

QUEUES = (COMMANDS_QUEUE, NOTIFICATIONS_QUEUE)


def dead_letter_queue(queue: str) -> str:
    """The dead-letter queue dramatiq's RabbitMQ broker declares for ``queue``: ``<queue>.XQ``."""
    return f"{queue}.XQ"


@dataclass
class DeadLetter:
    """One message of a ``<queue>.XQ``. ``body`` is the dramatiq message as a dict; a body that
    is not a JSON object (malformed, or not JSON at all) is kept as ``{"raw": <text>}``, so it
    can be listed and purged, never requeued as if it were a message."""

    message_id: str
    queue: str
    body: dict[str, Any]
    delivery_tag: int
    dead_since: datetime | None
    tries: int
    error: str | None = None

    @property
    def is_message(self) -> bool:
        """Whether the body is a dramatiq message (so it can be put back on its queue)."""
        return "actor_name" in self.body or "raw" not in self.body

    @property
    def summary(self) -> str:
        """``<actor> <what> delivery <id>`` for any shape: a command envelope (its command's
        type), a notification event (its ``type`` and ``command``, a string), anything else
        ("?" for what it lacks; a body that is not a dramatiq message says so)."""
        if not self.is_message:
            return f"not a dramatiq message: {_shown(self.body['raw'])}"
        args = self.body.get("args")
        first = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        command = first.get("command")
        kind = (
            (command.get("type") if isinstance(command, dict) else None)
            or first.get("type")
            or (command if isinstance(command, str) else None)
            or "?"
        )
        actor = self.body.get("actor_name") or "?"
        return f"{_shown(actor)} {_shown(kind)} delivery {_shown(first.get('delivery_id', '?'))}"


def _shown(value: Any, limit: int = 80) -> str:
    """``value`` as one line of at most ``limit`` characters, for a table cell."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _letter(queue: str, raw: bytes, delivery_tag: int, dead_since: datetime | None) -> DeadLetter:
    """A dead letter from the message's bytes, whatever they are."""
    try:
        body = json.loads(raw)
    except ValueError:  # not JSON, or not UTF-8
        body = None
    if not isinstance(body, dict):
        body = {"raw": raw.decode("utf-8", "replace")}
    message_id = body.get("message_id")
    options = body.get("options")
    retries = options.get("retries", 0) if isinstance(options, dict) else 0
    return DeadLetter(
        message_id=message_id if isinstance(message_id, str) and message_id else "?",
        queue=queue,
        body=body,
        delivery_tag=delivery_tag,
        dead_since=dead_since,
        tries=(retries if isinstance(retries, int) and not isinstance(retries, bool) else 0) + 1,
    )


def _dead_since(properties: pika.BasicProperties) -> datetime | None:
    headers = properties.headers if isinstance(properties.headers, dict) else {}
    deaths = headers.get("x-death")
    death = deaths[0] if isinstance(deaths, list) and deaths else None
    when = death.get("time") if isinstance(death, dict) else None
    return when.replace(tzinfo=UTC) if isinstance(when, datetime) else None


@contextmanager
def browsing(
    amqp_url: str, db: Database
) -> Iterator[tuple[pika.adapters.blocking_connection.BlockingChannel, list[DeadLetter]]]:
    """Every dead letter, held unacknowledged; whatever the caller does not ack goes back.

    Usage: ``with browsing(url, db) as (channel, letters): requeue(channel, letters[0])``.

    Parameters:
      amqp_url(str): ``DC_AMQP_URL`` (one URI or several; the first that answers).
      db(Database): A synchronous database; ``dead_letters`` gives each letter's ``error``.

    Yields:
      tuple: The channel (publisher confirms on), and the dead letters of every queue in
      :data:`QUEUES`, in queue order.

    Raises:
      pika.exceptions.AMQPError: The broker is unreachable.
    """
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
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
                letters.append(_letter(queue, raw, method.delivery_tag, _dead_since(properties)))
        # No letters, no question: FerretDB would scan the records for an empty $in.
        ids = [d.message_id for d in letters if d.message_id != "?"]
        errors = {r["_id"]: r for r in db[DEAD_LETTERS].find({"_id": {"$in": ids}})} if ids else {}
        for letter in letters:
            record = errors.get(letter.message_id)
            letter.error = str(record.get("error")) if record else None
        yield channel, letters
    finally:
        if channel.is_open:
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        connection.close()


def requeue(channel: Any, letter: DeadLetter) -> None:
    """Publish the message again on its own queue, with its retries reset, then drop the copy.

    Parameters:
      channel(BlockingChannel): The channel :func:`browsing` yielded.
      letter(DeadLetter): One of the letters it yielded.

    Raises:
      ValueError: The body is not a dramatiq message (see :class:`DeadLetter`).
    """
    if not letter.is_message:
        raise ValueError(f"{letter.message_id} is not a dramatiq message; purge it instead")
    body = dict(letter.body)
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    options = {k: v for k, v in options.items() if k not in ("retries", "traceback")}
    body["options"] = options
    channel.basic_publish(
        "", letter.queue, json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2)
    )
    channel.basic_ack(letter.delivery_tag)


def purge(amqp_url: str, db: Database) -> int:
    """Empty every dead-letter queue of :data:`QUEUES` and the ``dead_letters`` records.

    Parameters:
      amqp_url(str): ``DC_AMQP_URL`` (one URI or several; the first that answers).
      db(Database): A synchronous database.

    Returns:
      int: How many messages were purged from the queues.

    Raises:
      pika.exceptions.AMQPError: The broker is unreachable.
    """
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
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
