"""Accept a command: record it once, publish it, answer only once the broker has confirmed.

The command record doubles as the Idempotency-Key record: with a key, the command id is
derived from (caller, key), so a retried request finds its own record and is published
again under the same id, which the workflow applies once. An open's command id is derived
from its order instead (see ``opening.open_delivery``), and its record keeps the order,
so a second open of the order is judged against the first whether or not it is applied yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pika.exceptions
from aiohttp import web
from pydantic import BaseModel

try:  # dramatiq 2 renamed ConnectionError
    from dramatiq.errors import BrokerConnectionError
except ImportError:  # pragma: no cover - dramatiq 1.x
    from dramatiq.errors import ConnectionError as BrokerConnectionError
from pymongo.errors import DuplicateKeyError

from services.gateway.context import Gateway
from services.gateway.errors import HttpError
from services.gateway.models import json_answer
from services.runtime.bus import command_message, publish
from services.runtime.collections import COMMANDS
from shared.contracts.messages import CommandEnvelope
from shared.domain.engine import ID_NAMESPACE
from shared.domain.roles import Actor

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying when the broker is unreachable.
RETRY_AFTER_SECONDS = 5
MAX_IDEMPOTENCY_KEY = 200
#: Seconds to wait for the broker's confirm before answering 503.
PUBLISH_TIMEOUT_SECONDS = 10.0


def command_location(command_id: str) -> str:
    """Where a command's status is read: the ``Location`` of every 202 that accepts one
    (RFC 9110 section 15.3.3: a 202 should point to a status monitor)."""
    return f"/v1/commands/{quote(command_id, safe=':@')}"


def accepted_response(answer: BaseModel, command_id: str) -> web.Response:
    """The 202 answer for an accepted command (RFC 9110 section 15.3.3).

    Parameters:
      answer(BaseModel): The answer model (``models.Accepted`` or ``models.Opened``), sent as
        :func:`~services.gateway.models.json_answer` sends every answer.
      command_id(str): The accepted command's id.

    Returns:
      web.Response: 202, ``answer`` as JSON, ``Location`` the command's status
      (:func:`command_location`).
    """
    return json_answer(answer, status=202, headers={"Location": command_location(command_id)})


#: An Idempotency-Key: 1 to ``MAX_IDEMPOTENCY_KEY`` printable ASCII characters (%x20-7E), the
#: characters of a Structured Field String, which the IETF draft "The Idempotency-Key HTTP
#: Header Field" makes the key. Taken verbatim: ``abc`` and ``"abc"`` are two keys, each stable.
IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}")
#: The header's JSON Schema: the same characters, and one at least that is not a space, as
#: HTTP drops the spaces around a field value (RFC 9110 section 5.5) before the key is read.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "maxLength": MAX_IDEMPOTENCY_KEY,
    "pattern": r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
}


def idempotency_key(request: web.Request) -> str | None:
    """The request's one ``Idempotency-Key``, or None without one. Raises 400
    ``invalid_idempotency_key`` when it has several: which one is meant is unknowable, and
    taking the first would make two orders of the same headers two commands."""
    keys = request.headers.getall("Idempotency-Key", [])
    if len(keys) > 1:
        raise HttpError(
            400,
            "invalid_idempotency_key",
            f"send one Idempotency-Key header; this request has {len(keys)}",
        )
    return keys[0] if keys else None


def command_id_for(actor: Actor, key: str | None) -> str:
    """A new command id, or with an Idempotency-Key the same id for every retry.

    Raises 400 ``invalid_idempotency_key`` for a key that is empty, longer than
    ``MAX_IDEMPOTENCY_KEY`` or holds anything but printable ASCII: a control character,
    non-ASCII text, or bytes that are not UTF-8 (aiohttp hands those over as surrogates).
    """
    if key is None:
        return uuid.uuid4().hex
    if not IDEMPOTENCY_KEY.fullmatch(key):
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            problem = f"it has {len(key)} characters"
        else:
            bad = next(c for c in key if not " " <= c <= "~")
            # Never echo the key itself; name the first character at fault by its code.
            problem = f"it holds {_character_name(bad)}"
        raise HttpError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters "
            f"(space to '~'); {problem}",
        )
    return uuid.uuid5(ID_NAMESPACE, f"idempotency:{actor.role}:{actor.id}:{key}").hex


def _character_name(character: str) -> str:
    """``U+00E9``, or for a byte that was not UTF-8 (a lone surrogate) ``the byte 0xFF``."""
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's image of the byte code - 0xDC00
        return f"the byte 0x{code - 0xDC00:02X}, which is not UTF-8"
    return f"U+{code:04X}"


def _key_reused(earlier: Mapping[str, Any]) -> HttpError:
    return HttpError(
        422,
        "idempotency_key_reused",
        "this Idempotency-Key was used for a different request; use a new key",
    )


async def accept(
    gateway: Gateway,
    envelope: CommandEnvelope,
    body_hash: str,
    *,
    details: Mapping[str, Any] | None = None,
    conflict: Callable[[Mapping[str, Any]], HttpError] = _key_reused,
) -> None:
    """Record and publish ``envelope``; 503 if the broker did not confirm (and then nothing
    is recorded).

    ``details`` are kept in the record beside its fixed fields. When the command id is
    recorded already with another ``body_hash``, nothing is published and
    ``conflict(earlier record)`` is raised: by default 422 ``idempotency_key_reused``. With
    the same hash the command is published again under its id, which the workflow applies once.
    """
    commands = gateway.db[COMMANDS]
    record = {
        **(details or {}),
        "_id": envelope.command_id,
        "delivery_id": envelope.delivery_id,
        "type": envelope.command.type,
        "actor": envelope.actor.model_dump(),
        "body_hash": body_hash,
        "accepted_at": datetime.now(UTC),
    }
    fresh = False
    # Twice at most: an earlier record may vanish in between, when its broker publish failed.
    for _ in range(2):
        try:
            await commands.insert_one(record)
            fresh = True
            break
        except DuplicateKeyError:
            earlier = await commands.find_one({"_id": envelope.command_id})
            if earlier is None:
                continue
            if earlier["body_hash"] != body_hash:
                raise conflict(earlier) from None
            break
    try:
        await asyncio.wait_for(
            publish(gateway.broker, command_message(envelope)), PUBLISH_TIMEOUT_SECONDS
        )
    except TimeoutError as error:
        # The publishing thread cannot be stopped: the command may still reach the queue, and
        # its outcome then shows under this id. A retry with the same Idempotency-Key is safe.
        log.warning("broker did not confirm command %s in time", envelope.command_id)
        if fresh:
            with contextlib.suppress(Exception):
                await commands.delete_one({"_id": envelope.command_id})
        raise HttpError(
            503,
            "broker_timeout",
            f"the message broker did not confirm within {PUBLISH_TIMEOUT_SECONDS:g} s; "
            "retry later (with an Idempotency-Key a retry is safe)",
            retry_after=RETRY_AFTER_SECONDS,
        ) from error
    except (BrokerConnectionError, pika.exceptions.AMQPError) as error:
        log.warning("broker unreachable, command %s not accepted: %s", envelope.command_id, error)
        if fresh:
            # Nothing was published: a later GET must not show this command as accepted.
            with contextlib.suppress(Exception):
                await commands.delete_one({"_id": envelope.command_id})
        raise HttpError(
            503,
            "broker_unavailable",
            "the message broker is unreachable; nothing was accepted, retry later",
            retry_after=RETRY_AFTER_SECONDS,
        ) from error
    log.info(
        "command %s accepted",
        envelope.command.type,
        extra={"delivery_id": envelope.delivery_id, "command_id": envelope.command_id},
    )
