"""The public event stream: what marketplace systems hear on the topic exchange ``dc.events``.

Every applied transition is published there once it is relayed from the delivery's outbox
(at least once: consumers deduplicate by ``event_id``), with routing key
``delivery.<process>.<event_type>``. Two event types are the delivery's end and name it
explicitly, so a payment system binds to two keys: ``delivery_completed`` (``how``: confirmed
by the customer, confirmed automatically, or the warranty ended) and ``delivery_terminated``
(``terminated_by`` and ``reason``). The others keep the notifier's event type
(``shared.domain.events``).

The message body is the UTF-8 JSON of :class:`PublicEvent` (one JSON Schema per event type
under ``schemas/events/``); its AMQP properties carry ``message_id`` = ``event_id``,
``correlation_id`` = ``command_id``, ``type`` = ``event_type`` and
``content_type`` = ``application/json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.events import EVENT_TYPE_OF_COMMAND, EVENT_TYPE_OF_DEADLINE, Event
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, Row
from shared.domain.roles import Actor
from shared.domain.states import ProcessName, State

#: The durable topic exchange of the public stream (RabbitMQ: ``exchange_type="topic"``).
EVENTS_EXCHANGE = "dc.events"
#: Routing key of every delivery event: ``delivery.basic.delivery_completed``.
ROUTING_KEY = "delivery.{process}.{event_type}"
#: The two events that end a delivery.
DELIVERY_COMPLETED = "delivery_completed"
DELIVERY_TERMINATED = "delivery_terminated"

#: How a delivery came to be completed, by the internal event that completed it.
HOW_COMPLETED: Mapping[str, str] = {
    "stage_confirmed": "confirmed_by_customer",
    "warranty_confirmed": "confirmed_by_customer",
    "auto_confirmed": "confirmed_automatically",
    "warranty_expired": "warranty_ended",
}
HowCompleted = Literal["confirmed_by_customer", "confirmed_automatically", "warranty_ended"]


def _row_event_type(row: Row) -> str:
    if row.to == State.COMPLETED:
        return DELIVERY_COMPLETED
    if row.deadline is not None:
        return EVENT_TYPE_OF_DEADLINE[row.deadline]
    return EVENT_TYPE_OF_COMMAND[row.command]


#: Every event type the stream can carry, read from the process tables: the opening, each
#: row's event (``delivery_completed`` for a row into ``completed``), and the global commands'.
PUBLIC_EVENT_TYPES = frozenset(
    {EVENT_TYPE_OF_COMMAND["open_delivery"], DELIVERY_COMPLETED}
    | {_row_event_type(row) for process in PROCESSES.values() for row in process.rows}
    | {EVENT_TYPE_OF_COMMAND[command] for command in GLOBAL_COMMANDS}
)

#: The event's own fields (besides the common ones) each type carries, and whether each is
#: always there (True) or only when given (False). The words come from the command as the
#: delivery's history records them.
OWN_FIELDS: Mapping[str, Mapping[str, bool]] = {
    "delivery_opened": {},
    "demand_submitted": {},
    "contract_uploaded": {},
    "stage_finished": {"note": False},
    "stage_confirmed": {},
    "changes_requested": {"reason": True},
    "warranty_service_requested": {"description": True},
    "dispute_opened": {"reason": True},
    "dispute_resolved": {"outcome": True, "note": False},
    "confirmation_reminder": {},
    "auto_confirmed": {},
    DELIVERY_COMPLETED: {"how": True},
    DELIVERY_TERMINATED: {"terminated_by": True, "reason": False},
}


class PublicEvent(BaseModel):
    """One event of the public stream: what happened to a delivery, by whom, and the state it
    left the delivery in. ``event_id`` is stable across re-publishing (consumers deduplicate
    by it); ``version`` is the delivery's version after the event, so a consumer can order
    one delivery's events; ``occurred_at`` is RFC 3339 UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="stable across re-publishing: deduplicate by it")
    event_type: str = Field(description="one of the public event types")
    delivery_id: str
    order_id: str
    process: ProcessName
    from_state: State | None = Field(description="null for delivery_opened")
    to_state: State
    version: int = Field(ge=1, description="the delivery's version after this event")
    occurred_at: datetime
    actor: Actor = Field(description="who caused it; the timer (role system) for deadlines")
    command_id: str = Field(description="the command that caused it")
    reason: str | None = None
    note: str | None = None
    outcome: Literal["continue", "terminate"] | None = None
    description: str | None = None
    how: HowCompleted | None = Field(default=None, description="delivery_completed only")
    terminated_by: Actor | None = Field(default=None, description="delivery_terminated only")

    @property
    def routing_key(self) -> str:
        """``delivery.<process>.<event_type>``, e.g. ``delivery.basic.delivery_completed``."""
        return ROUTING_KEY.format(process=self.process, event_type=self.event_type)


def public_event_of(event: Event) -> PublicEvent:
    """The public form of an internal event (``shared.domain.events.Event``).

    An event that leaves the delivery ``completed`` becomes ``delivery_completed`` (``how``
    from :data:`HOW_COMPLETED`); one that leaves it ``terminated`` (a ``terminate``, or a
    dispute resolved with ``terminate``) becomes ``delivery_terminated`` (``terminated_by``
    the actor, ``reason`` the command's reason or the resolution's note). Pure.

    Raises:
      KeyError: An event entering ``completed`` whose type :data:`HOW_COMPLETED` lacks.
    """
    own: dict[str, object] = {}
    if event.to_state == State.COMPLETED and event.from_state != State.COMPLETED:
        event_type = DELIVERY_COMPLETED
        own["how"] = HOW_COMPLETED[event.type]
    elif event.to_state == State.TERMINATED and event.from_state != State.TERMINATED:
        event_type = DELIVERY_TERMINATED
        own["terminated_by"] = event.actor
        reason = event.data.get("reason") or event.data.get("note")
        if reason:
            own["reason"] = reason
    else:
        event_type = event.type
        own = {name: event.data[name] for name in OWN_FIELDS[event_type] if name in event.data}
    return PublicEvent(
        event_id=event.event_id,
        event_type=event_type,
        delivery_id=event.delivery_id,
        order_id=event.delivery.order_id,
        process=event.delivery.process,
        from_state=event.from_state,
        to_state=event.to_state,
        version=event.delivery.version,
        occurred_at=event.occurred_at,
        actor=event.actor,
        command_id=event.command_id,
        **own,
    )


def public_event_body(event: BaseModel) -> bytes:
    """A message body: UTF-8 JSON of the fields ``event`` was given (a :class:`PublicEvent`'s
    common and own fields; a :class:`CommandRejected`'s or :class:`CommandReply`'s)."""
    return event.model_dump_json(exclude_unset=True).encode()


#: Routing key (and ``event_type``) of a refused command's announcement on ``dc.events``.
COMMAND_REJECTED = "command.rejected"


class CommandRejected(BaseModel):
    """A command the workflow refused, announced on ``dc.events`` with routing key
    ``command.rejected``, so a bus publisher learns its command's fate without HTTP. At least
    once: ``event_id`` (derived from the command id) is the same on every announcement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="stable across re-publishing: deduplicate by it")
    event_type: Literal["command.rejected"]
    command_id: str
    command: str = Field(description="the command's type, e.g. confirm")
    delivery_id: str
    actor: Actor = Field(description="who sent the command")
    reason: str = Field(description="a stable code, e.g. role_not_allowed, terminal_state")
    message: str = Field(description="a sentence for people")
    occurred_at: datetime = Field(description="when the refusal was announced (RFC 3339)")

    @property
    def routing_key(self) -> str:
        """Always ``command.rejected``."""
        return COMMAND_REJECTED


class CommandReply(BaseModel):
    """The outcome of a bus command that named ``reply_to``: sent to that queue (the default
    exchange) with ``correlation_id`` = ``command_id``, the RPC-over-AMQP convention. The same
    fields as ``GET /v1/commands/{command_id}`` once decided."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str
    delivery_id: str
    type: str = Field(description="the command's type")
    status: Literal["applied", "rejected"]
    reason: str | None = Field(description="a stable code when rejected")
    message: str | None = Field(description="a sentence for people when rejected")
