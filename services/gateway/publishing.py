"""Publish a command and answer only once the broker has confirmed it."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import UTC, datetime

import pika.exceptions
from dramatiq.errors import ConnectionError as BrokerConnectionError
from pymongo.errors import DuplicateKeyError

from services.bus import command_message, publish
from services.collections import COMMANDS, IDEMPOTENCY
from services.gateway.context import Gateway
from services.gateway.errors import HttpError
from shared.contracts.messages import CommandEnvelope
from shared.domain.roles import Actor

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying when the broker is unreachable.
RETRY_AFTER_SECONDS = 5


async def command_id_for(gateway: Gateway, actor: Actor, key: str | None, body_hash: str) -> str:
    """A new command id, or the one an earlier request with this Idempotency-Key got."""
    if key is None:
        return uuid.uuid4().hex
    if not 1 <= len(key) <= 200:
        raise HttpError(400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 200 characters")
    record_id = f"{actor.role}:{actor.id}:{key}"
    record = await gateway.db[IDEMPOTENCY].find_one_and_update(
        {"_id": record_id},
        {"$setOnInsert": {"command_id": uuid.uuid4().hex, "body_hash": body_hash, "at": datetime.now(UTC)}},
        upsert=True,
        return_document=True,
    )
    if record["body_hash"] != body_hash:
        raise HttpError(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; use a new key",
        )
    return record["command_id"]


async def submit(gateway: Gateway, envelope: CommandEnvelope) -> None:
    """Publish with confirm, then record the command as accepted (unless already decided)."""
    try:
        await publish(gateway.broker, command_message(envelope))
    except (BrokerConnectionError, pika.exceptions.AMQPError) as error:
        log.warning("broker unreachable, command %s not accepted: %s", envelope.command_id, error)
        raise HttpError(
            503,
            "broker_unavailable",
            "the message broker is unreachable; nothing was accepted, retry later",
            retry_after=RETRY_AFTER_SECONDS,
        ) from error
    now = datetime.now(UTC)
    # The workflow may have decided already; $setOnInsert never overwrites its outcome,
    # and a duplicate key means the workflow's record won the race to be inserted.
    with contextlib.suppress(DuplicateKeyError):
        await gateway.db[COMMANDS].update_one(
            {"_id": envelope.command_id},
            {
                "$setOnInsert": {
                    "delivery_id": envelope.delivery_id,
                    "type": envelope.command.type,
                    "actor": envelope.actor.model_dump(),
                    "status": "accepted",
                    "reason": None,
                    "message": None,
                    "created_at": now,
                }
            },
            upsert=True,
        )
