"""JSON Schemas of what travels on the bus, for publishers that are not written in Python.

One schema per command type (a :class:`CommandEnvelope` whose ``command`` is that command),
one for the notification :class:`Event`, one for the dramatiq message that carries either, and
under ``events/`` one per public event type (:class:`PublicEvent` on ``dc.events``). They are
generated from the pydantic models and the process tables, and kept in the repository under
``shared/contracts/schemas/``; regenerate them with ``python -m shared.contracts.schemas``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, create_model

from shared.contracts.event_schemas import build_event_schemas
from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from shared.contracts.schema_files import (
    DIALECT,
    EVENTS,
    ID_PREFIX,
    SCHEMA_DIR,
    document,
    write_folder,
)
from shared.domain.commands import ALL_COMMAND_MODELS
from shared.domain.engine import ID_NAMESPACE, delivery_id_for
from shared.domain.events import EVENT_TYPES, Event
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES

DRAMATIQ_MESSAGE = "dramatiq-message"
EVENT = "event"

_ENVELOPE_FIELDS = (
    "{queue_name, actor_name, args: [<this document>], kwargs: {}, options: {}, message_id, "
    "message_timestamp}"
)


def _carried_by(queue: str, actor: str) -> str:
    return (
        f"This document is the single positional argument `args[0]` of a dramatiq message on queue "
        f"`{queue}` (actor `{actor}`). The dramatiq message is the UTF-8 JSON object "
        f"{_ENVELOPE_FIELDS} (see {DRAMATIQ_MESSAGE}.json), published persistent (delivery_mode 2) "
        f'on the default exchange ("") with routing key = queue name (`{queue}`).'
    )


#: Words for the envelope's own fields (the models leave them to the code).
_ENVELOPE_NOTES = {
    "command_id": (
        "Idempotency key chosen by the sender: the workflow applies one command id once, so a "
        "message published twice has one effect. Reusing an id for another command is refused."
    ),
    "delivery_id": "The delivery the command is for: 32 lowercase hex digits.",
    "actor": (
        "Who sends the command: `id` is the party's id (a token's `sub`), `role` its role; "
        "customers and ISVs may act only on their own deliveries."
    ),
    "issued_at": "When the sender issued the command (RFC 3339 date-time with offset).",
    "command": "The command; its `type` names it.",
}


def _who_and_where(kind: str) -> str:
    """Who may send ``kind`` and in which states, read from the process tables."""
    if kind == "open_delivery":
        return (
            "Sent by the marketplace (or an admin) to open a delivery for a paid order. "
            f"`delivery_id` must be the one derived from `order_id`: the hex form of "
            f'uuid5(namespace {ID_NAMESPACE}, name "order:" + order_id), so the same order always '
            "gets the same delivery. `warranty_period` is required for the double_check process."
        )
    if kind in GLOBAL_COMMANDS:
        roles = " or ".join(sorted(GLOBAL_COMMANDS[kind]))
        return f"Sent by: {roles}. Accepted in every non-terminal state of every process."
    roles = sorted({row.role for p in PROCESSES.values() for row in p.rows if row.command == kind})
    where = []
    for name, process in PROCESSES.items():
        states = sorted({str(row.state) for row in process.rows if row.command == kind})
        if states:
            where.append(f"{name}: {', '.join(states)}")
    text = f"Sent by: {' or '.join(roles)}. Accepted in {'; '.join(where)}."
    if kind == "expire_deadline":
        text += " The timer worker sends it when a deadline falls due; `deadline_id` names it."
    return text + " While a dispute is open only the admin acts."


def _examples() -> dict[str, dict[str, Any]]:
    """One valid document per command type, as a publisher would send it."""
    order = "order-1001"
    delivery = delivery_id_for(order)
    contact = {"name": "Ada Buyer", "phone": "+49 30 1234567", "email": "ada@example.com"}
    customer = {"id": "customer-42", "role": "customer"}
    isv = {"id": "isv-7", "role": "isv"}
    admin = {"id": "admin-1", "role": "admin"}
    commands: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
        "open_delivery": (
            {"id": "order-system", "role": "marketplace"},
            {
                "order_id": order,
                "order_spec": "Website build, 5 pages, 1 year warranty",
                "product_id": "website-build",
                "isv_id": isv["id"],
                "customer_id": customer["id"],
                "customer_email": "ada@example.com",
                "isv_email": "delivery@isv.example",
                "customer_locale": "zh-CN",
                "customer_time_zone": "Asia/Shanghai",
                "isv_locale": "en-GB",
                "isv_time_zone": "Europe/Berlin",
                "process": "double_check",
                "warranty_period": "P365D",
            },
        ),
        "submit_demand": (
            customer,
            {"contact": contact, "demands": "A shop with 5 pages.", "attachments": ["0" * 32]},
        ),
        "upload_contract": (isv, {"attachment": "1" * 32}),
        "finish": (isv, {"note": "Deployed to staging.", "attachments": []}),
        "confirm": (customer, {}),
        "request_changes": (customer, {"reason": "The logo is too small."}),
        "request_warranty_service": (customer, {"description": "The contact form fails."}),
        "confirm_warranty": (customer, {}),
        "open_dispute": (isv, {"reason": "The customer asks for work outside the order."}),
        "resolve_dispute": (admin, {"outcome": "continue", "note": "Scope as ordered."}),
        "terminate": (admin, {"reason": "Order refunded."}),
        "expire_deadline": (
            {"id": "timer", "role": "system"},
            {"deadline_id": f"{delivery}:4:confirmation_window"},
        ),
    }
    return {
        kind: {
            "command_id": f"{kind}-0001",
            "delivery_id": delivery,
            "actor": actor,
            "issued_at": "2026-01-05T09:00:00Z",
            "command": {"type": kind, **fields},
        }
        for kind, (actor, fields) in commands.items()
    }


def command_schema(command_model: type[BaseModel]) -> dict[str, Any]:
    """The schema of a CommandEnvelope whose ``command`` is ``command_model``.

    Parameters:
      command_model(type[BaseModel]): One of ``ALL_COMMAND_MODELS``.

    Returns:
      dict: A JSON Schema (draft 2020-12), ``$id`` ``urn:delivery-center:schema:<type>``,
      saying who sends the command, in which states, and how it travels; with one example.
    """
    kind: str = command_model.model_fields["type"].default
    envelope = create_model(
        f"{command_model.__name__}Envelope",
        __base__=CommandEnvelope,
        __doc__=CommandEnvelope.__doc__,
        command=(command_model, ...),
    )
    schema = document(
        envelope,
        name=kind,
        title=f"{COMMANDS_QUEUE} · {kind}",
        description=(
            f"A `{kind}` command addressed to one delivery: a CommandEnvelope whose `command` is a "
            f"{command_model.__name__}. {_who_and_where(kind)} "
            f"{_carried_by(COMMANDS_QUEUE, APPLY_COMMAND_ACTOR)}"
        ),
    )
    for field, note in _ENVELOPE_NOTES.items():
        schema["properties"][field]["description"] = note
    # The command's `type` tells the commands apart on the queue: it must be sent (the party
    # commands' models require it already; an opening's may leave it out over HTTP only).
    command_def = schema["$defs"][command_model.__name__]
    if "type" not in command_def.get("required", []):
        command_def["required"] = ["type", *command_def.get("required", [])]
    schema["examples"] = [_examples()[kind]]
    return schema


def event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an :class:`Event` on ``dc.notifications``."""
    schema = document(
        Event,
        name=EVENT,
        title=f"{NOTIFICATIONS_QUEUE} · event",
        description=(
            "What happened to a delivery: one event per applied command, published by the workflow "
            "worker for the notifier, which emails the party who must act next and informs the "
            "other. `event_id` is derived from the command id, so a replay carries the same id. "
            f"`type` is one of: {', '.join(sorted(EVENT_TYPES))}. "
            f"{_carried_by(NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR)}"
        ),
    )
    schema["properties"]["type"]["enum"] = sorted(EVENT_TYPES)
    return schema


def dramatiq_message_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the dramatiq message that carries a command or an
    event: dramatiq's own ``Message`` encoding (``dramatiq.Message.encode``, JSON)."""
    routes = (
        (COMMANDS_QUEUE, APPLY_COMMAND_ACTOR),
        (NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR),
    )
    properties: dict[str, Any] = {
        "queue_name": {
            "type": "string",
            "enum": [queue for queue, _ in routes],
            "description": "The queue, also the routing key.",
        },
        "actor_name": {
            "type": "string",
            "enum": [actor for _, actor in routes],
            "description": "The actor that handles the message; one per queue.",
        },
        "args": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {"type": "object"},
            "description": "Exactly one document, validated by the schema of its queue.",
        },
        "kwargs": {
            "type": "object",
            "maxProperties": 0,
            "description": "Always empty.",
        },
        "options": {
            "type": "object",
            "description": "Empty when published; dramatiq keeps its retry bookkeeping here.",
        },
        "message_id": {
            "type": "string",
            "minLength": 1,
            "description": "Unique per message, conventionally a UUID.",
        },
        "message_timestamp": {
            "type": "integer",
            "minimum": 0,
            "description": (
                "When the message was first enqueued, in milliseconds since the Unix epoch."
            ),
        },
    }
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{DRAMATIQ_MESSAGE}",
        "title": "dramatiq message",
        "description": (
            "The message body dramatiq reads from RabbitMQ: a UTF-8 JSON object "
            f"{_ENVELOPE_FIELDS}. Publish it persistent (delivery_mode 2) on the default exchange "
            '("") with routing key = `queue_name`. `args` holds exactly one document: a command '
            f"envelope (<command type>.json) on `{COMMANDS_QUEUE}`, an event ({EVENT}.json) on "
            f"`{NOTIFICATIONS_QUEUE}`. Messages that keep failing are moved to the dead-letter "
            "queue `<queue_name>.XQ`."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": [*properties],
        "properties": properties,
        "oneOf": [
            {
                "properties": {"queue_name": {"const": queue}, "actor_name": {"const": actor}},
            }
            for queue, actor in routes
        ],
        "examples": [
            {
                "queue_name": COMMANDS_QUEUE,
                "actor_name": APPLY_COMMAND_ACTOR,
                "args": [_examples()["confirm"]],
                "kwargs": {},
                "options": {},
                "message_id": "5f0c3b5e-8a7d-4d5e-9b1a-3c2d1e0f9a8b",
                "message_timestamp": 1767603600000,
            }
        ],
    }


def build_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its file name (without ``.json``)."""
    schemas = {
        model.model_fields["type"].default: command_schema(model) for model in ALL_COMMAND_MODELS
    }
    schemas[EVENT] = event_schema()
    schemas[DRAMATIQ_MESSAGE] = dramatiq_message_schema()
    return schemas


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema (the public events' under ``events/``); remove those no longer made."""
    events = write_folder(directory / EVENTS, build_event_schemas())
    return write_folder(directory, build_schemas()) + events


def main() -> int:
    """``python -m shared.contracts.schemas``: regenerate the files, print their paths; 0."""
    for path in write_schemas():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
