"""The delivery document: everything the brief's "what a delivery holds" lists, and its records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.commands import Contact
from shared.domain.locales import LocaleTag, TimeZoneName
from shared.domain.roles import Actor, Role
from shared.domain.states import DeadlineKind, ProcessName, State

#: The field naming the party who acts as each role, in a delivery, its stored document and the
#: summary an event carries.
PARTY_ID_FIELDS: Mapping[Role, str] = {Role.CUSTOMER: "customer_id", Role.ISV: "isv_id"}

#: The fields of a delivery (its stored document, the summary an event carries, the opening)
#: saying which language and time zone each party reads in; None is the installation's default.
READER_FIELDS = ("customer_locale", "isv_locale", "customer_time_zone", "isv_time_zone")

#: A deadline's status: running (``active``), ``paused`` by an open dispute, ``cancelled`` (the
#: customer acted first) or ``fired``.
DeadlineStatus = Literal["active", "paused", "cancelled", "fired"]
#: The deadlines shown to people, on the pages and in the emails: those running or paused.
SHOWN_DEADLINE_STATUSES: frozenset[str] = frozenset({"active", "paused"})
#: The deadlines a party is told of as the "by when" of a delivery, in emails and in their list
#: of deliveries: the confirmation window and the warranty. The reminder is left out: it is the
#: notifier's own timer, and its email is the reminder itself.
PARTY_DEADLINE_KINDS: frozenset[DeadlineKind] = frozenset(
    {DeadlineKind.CONFIRMATION_WINDOW, DeadlineKind.WARRANTY}
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Deadline(_Record):
    """A deadline of the delivery. ``due_at`` is None while a dispute pauses it."""

    deadline_id: str
    kind: DeadlineKind
    status: DeadlineStatus
    due_at: datetime | None = None
    #: Time left when paused, in seconds; restored on ``resolve_dispute continue``.
    remaining_seconds: float | None = None


def past_due(deadline: Mapping[str, Any], now: datetime) -> bool:
    """Whether a deadline (stored, or a :class:`Deadline`'s ``model_dump()``) is running and
    was due before ``now`` (aware): the timer worker should have fired it."""
    due_at = deadline.get("due_at")
    return deadline.get("status") == "active" and due_at is not None and due_at < now


class Review(_Record):
    """The customer's (or the clock's) answer to a deliverable."""

    outcome: Literal["confirmed", "changes_requested", "auto_confirmed"]
    by: Actor
    at: datetime
    reason: str | None = None


class Stage(_Record):
    """One deliverable of the ISV (a ``finish``) and the reviews it got."""

    stage: State
    note: str | None = None
    attachments: list[str] = Field(default_factory=list)
    finished_at: datetime
    reviews: list[Review] = Field(default_factory=list)


class Dispute(_Record):
    """A dispute opened by the customer or the ISV; while ``open``, deadlines are paused and
    only the admin acts (the brief's "Disputes")."""

    status: Literal["open", "resolved"]
    opened_by: Actor
    reason: str
    opened_at: datetime
    outcome: Literal["continue", "terminate"] | None = None
    note: str | None = None
    resolved_by: Actor | None = None
    resolved_at: datetime | None = None


class HistoryEntry(_Record):
    """An applied command: who, when, from which state to which."""

    command_id: str
    command: str
    actor: Actor
    at: datetime
    from_state: State | None
    to_state: State
    details: dict[str, str] = Field(default_factory=dict)


class RefusedEntry(_Record):
    """A refused command and why; it changed nothing else."""

    command_id: str
    command: str
    actor: Actor
    at: datetime
    state: State
    code: str
    message: str


class WarrantyRequest(_Record):
    """A customer's ``request_warranty_service`` during the warranty: what and when."""

    description: str
    at: datetime


class Delivery(_Record):
    """One delivery: everything the brief's "What a delivery holds" lists.

    Ids of attachments (``attachments``, ``contract``, a stage's ``attachments``) are 32 hex
    digits; ``warranty_period_seconds`` is set for ``double_check`` deliveries; every
    datetime is aware UTC.
    """

    delivery_id: str
    order_id: str
    order_spec: str
    product_id: str
    process: ProcessName
    state: State
    #: Grows by one with each applied command (opening the delivery is the first).
    version: int = Field(ge=1)
    customer_id: str
    customer_email: str
    isv_id: str
    isv_email: str
    #: The languages and time zones the parties read in, as the opening gave them; None (also
    #: for deliveries stored before they existed) is the installation's default, applied when
    #: read (``DC_DEFAULT_LOCALE``, ``DC_DEFAULT_TIME_ZONE``), never stored.
    customer_locale: LocaleTag | None = None
    isv_locale: LocaleTag | None = None
    customer_time_zone: TimeZoneName | None = None
    isv_time_zone: TimeZoneName | None = None
    warranty_period_seconds: int | None = None
    contact: Contact | None = None
    demands: str | None = None
    attachments: list[str] = Field(default_factory=list)
    contract: str | None = None
    stages: list[Stage] = Field(default_factory=list)
    warranty_requests: list[WarrantyRequest] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    dispute: Dispute | None = None
    history: list[HistoryEntry] = Field(default_factory=list)
    refusals: list[RefusedEntry] = Field(default_factory=list)
    opened_at: datetime
    updated_at: datetime

    @property
    def dispute_open(self) -> bool:
        """Whether a dispute is open on it: deadlines paused, only an admin acts (the brief's
        "Disputes")."""
        return self.dispute is not None and self.dispute.status == "open"

    def party_ids(self) -> frozenset[str]:
        """The customer's and the ISV's ids: the parties who may act on it besides admins."""
        return frozenset({self.customer_id, self.isv_id})

    def party_id_of(self, role: Role) -> str | None:
        """The id of the party acting as ``role`` (:data:`PARTY_ID_FIELDS`); None for a role
        that is no party of it (admin, marketplace, system)."""
        field = PARTY_ID_FIELDS.get(role)
        return None if field is None else getattr(self, field)

    def outcome_of(self, command_id: str) -> HistoryEntry | RefusedEntry | None:
        """The recorded outcome of a command already seen, for idempotent re-delivery."""
        for entry in self.history:
            if entry.command_id == command_id:
                return entry
        for refused in self.refusals:
            if refused.command_id == command_id:
                return refused
        return None
