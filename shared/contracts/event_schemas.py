"""JSON Schemas of what marketplace systems receive: one per public event type on ``dc.events``
(:class:`PublicEvent`), ``command.rejected``, and the reply a ``reply_to`` command gets; kept
under ``schemas/events/`` (``python -m shared.contracts.schemas`` writes them)."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, create_model

from shared.contracts.public_events import (
    COMMAND_REJECTED,
    EVENTS_EXCHANGE,
    OWN_FIELDS,
    PUBLIC_EVENT_TYPES,
    ROUTING_KEY,
    CommandRejected,
    CommandReply,
    PublicEvent,
)
from shared.contracts.schema_files import EVENTS, document

#: File name (under ``events/``) of the reply to a ``reply_to`` command.
COMMAND_REPLY = "command.reply"


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
    schema = document(
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


def command_rejected_schema() -> dict[str, Any]:
    """The JSON Schema of a refused command's announcement on ``dc.events``."""
    return document(
        CommandRejected,
        name=f"{EVENTS}:{COMMAND_REJECTED}",
        title=f"{EVENTS_EXCHANGE} · {COMMAND_REJECTED}",
        description=(
            "A command the workflow refused: the UTF-8 JSON body of a message published "
            f"persistent on the durable topic exchange `{EVENTS_EXCHANGE}` with routing key "
            f"`{COMMAND_REJECTED}`. AMQP properties: message_id = event_id, correlation_id = "
            f"command_id, type = `{COMMAND_REJECTED}`, content_type application/json. At least "
            "once: deduplicate by `event_id`."
        ),
    )


def command_reply_schema() -> dict[str, Any]:
    """The JSON Schema of the outcome sent to a command's ``reply_to`` queue."""
    return document(
        CommandReply,
        name=f"{EVENTS}:{COMMAND_REPLY}",
        title=f"reply_to · {COMMAND_REPLY}",
        description=(
            "The outcome of a bus command that named `reply_to`: the UTF-8 JSON body of a "
            "message sent persistent through the default exchange to that queue, with AMQP "
            "correlation_id = command_id, type `command.outcome`, content_type "
            "application/json. At least once: a redelivered command is answered again."
        ),
    )


def build_event_schemas() -> dict[str, dict[str, Any]]:
    """Every public event type's schema by its file name under ``events/`` (without ``.json``)."""
    return {
        **{event_type: public_event_schema(event_type) for event_type in PUBLIC_EVENT_TYPES},
        COMMAND_REJECTED: command_rejected_schema(),
        COMMAND_REPLY: command_reply_schema(),
    }
