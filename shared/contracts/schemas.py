"""JSON Schemas of what travels on the bus, for publishers that are not written in Python.

One schema per command type (a :class:`CommandEnvelope` whose ``command`` is that command),
one for the notification :class:`Event`, one for the dramatiq message that carries either, and
under ``events/`` one per public event type (:class:`PublicEvent` on ``dc.events``). They are
generated from the pydantic models and the process tables, and kept in the repository under
``shared/contracts/schemas/``; regenerate them with ``python -m shared.contracts.schemas``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from shared.contracts.messages import CommandEnvelope
from shared.contracts.public_events import (
    EVENTS_EXCHANGE,
    OWN_FIELDS,
    PUBLIC_EVENT_TYPES,
    ROUTING_KEY,
    PublicEvent,
)
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from shared.domain.commands import ALL_COMMAND_MODELS
from shared.domain.engine import ID_NAMESPACE, delivery_id_for
from shared.domain.events import EVENT_TYPES, Event
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES

SCHEMA_DIR = Path(__file__).with_name("schemas")
#: The public event schemas' folder, under the schema folder.
EVENTS = "events"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:delivery-center:schema:"
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


class _Generator(GenerateJsonSchema):
    """pydantic's generator, saying what the models accept that it would leave out.

    Durations bring their own schema (shared.durations.Duration), the parser's grammar.
    """

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        """pydantic's string schema, plus ``pattern: \\S`` where blank text is refused."""
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace") and schema.get("min_length", 0) >= 1:
            # Whitespace is stripped before the length is checked: blank text is refused.
            if "pattern" in json_schema:
                json_schema["allOf"] = [{"pattern": r"\S"}]
            else:
                json_schema["pattern"] = r"\S"
        return json_schema


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


def _document(model: type[BaseModel], *, name: str, title: str, description: str) -> dict[str, Any]:
    schema = model.model_json_schema(schema_generator=_Generator, mode="validation")
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{name}",
        **schema,
        "title": title,
        "description": description,
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
    schema = _document(
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
    # The command's `type` tells the commands apart on the queue: it must be sent.
    command_def = schema["$defs"][command_model.__name__]
    command_def["required"] = ["type", *command_def.get("required", [])]
    schema["examples"] = [_examples()[kind]]
    return schema


def event_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an :class:`Event` on ``dc.notifications``."""
    schema = _document(
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


def public_event_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one public event type on ``dc.events``: the common fields
    of :class:`PublicEvent`, ``event_type`` a const, and its :data:`OWN_FIELDS`, no others."""
    own = OWN_FIELDS[event_type]
    fields: dict[str, Any] = {}
    for name, info in PublicEvent.model_fields.items():
        if name == "event_type":
            fields[name] = (Literal[event_type], Field(description=info.description))
        elif name in own:  # never null: a field the event lacks is left out of the body
            (bare,) = (arg for arg in get_args(info.annotation) if arg is not type(None))
            fields[name] = (bare, Field(... if own[name] else None, description=info.description))
        elif not any(name in others for others in OWN_FIELDS.values()):
            fields[name] = (info.annotation, info)
    key = ROUTING_KEY.format(process="<process>", event_type=event_type)
    schema = _document(
        create_model(event_type, __config__=PublicEvent.model_config, **fields),
        name=f"{EVENTS}:{event_type}",
        title=f"{EVENTS_EXCHANGE} · {event_type}",
        description=(
            f"A `{event_type}` event of the public stream: the UTF-8 JSON body of a message "
            f"published persistent (delivery_mode 2) on the durable topic exchange "
            f"`{EVENTS_EXCHANGE}` with routing key `{key}`. AMQP properties: message_id = "
            f"event_id, correlation_id = command_id, type = `{event_type}`, content_type "
            "application/json. Published at least once: deduplicate by `event_id`, which is "
            "stable across re-publishing. `version` is the delivery's version after the event: it "
            "orders one delivery's events. Fields the event lacks are left out, never null."
        ),
    )
    for name in (name for name, always in own.items() if not always):
        del schema["properties"][name]["default"]  # left out, not null
    return schema


def build_schemas() -> dict[str, dict[str, Any]]:
    """Every schema by its file name (without ``.json``)."""
    schemas = {
        model.model_fields["type"].default: command_schema(model) for model in ALL_COMMAND_MODELS
    }
    schemas[EVENT] = event_schema()
    schemas[DRAMATIQ_MESSAGE] = dramatiq_message_schema()
    return schemas


def build_event_schemas() -> dict[str, dict[str, Any]]:
    """Every public event type's schema by its file name under ``events/`` (without ``.json``)."""
    return {event_type: public_event_schema(event_type) for event_type in PUBLIC_EVENT_TYPES}


def render(schema: Mapping[str, Any]) -> str:
    """A schema as the repository keeps it: UTF-8 JSON, keys sorted, indented 2, final newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _write(directory: Path, schemas: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / f"{name}.json" for name in sorted(schemas)]
    for path in written:
        path.write_text(render(schemas[path.stem]), encoding="utf-8")
    for stale in (path for path in directory.glob("*.json") if path.stem not in schemas):
        stale.unlink()
    return written


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema (the public events' under ``events/``); remove those no longer made."""
    return _write(directory, build_schemas()) + _write(directory / EVENTS, build_event_schemas())


def main() -> int:
    """``python -m shared.contracts.schemas``: regenerate the files, print their paths; 0."""
    for path in write_schemas():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
