"""Events: what happened to a delivery, one per applied command, for the notifier."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.delivery import Deadline
from shared.domain.locales import LocaleTag, TimeZoneName
from shared.domain.roles import Actor
from shared.domain.states import DeadlineKind, ProcessName, State

#: Event type for each command type; a fired deadline's event depends on its kind.
EVENT_TYPE_OF_COMMAND: dict[str, str] = {
    "open_delivery": "delivery_opened",
    "submit_demand": "demand_submitted",
    "upload_contract": "contract_uploaded",
    "finish": "stage_finished",
    "confirm": "stage_confirmed",
    "request_changes": "changes_requested",
    "request_warranty_service": "warranty_service_requested",
    "confirm_warranty": "warranty_confirmed",
    "open_dispute": "dispute_opened",
    "resolve_dispute": "dispute_resolved",
    "terminate": "delivery_terminated",
}
EVENT_TYPE_OF_DEADLINE: dict[DeadlineKind, str] = {
    DeadlineKind.CONFIRMATION_WINDOW: "auto_confirmed",
    DeadlineKind.REMINDER: "confirmation_reminder",
    DeadlineKind.WARRANTY: "warranty_expired",
}
EVENT_TYPES = frozenset(EVENT_TYPE_OF_COMMAND.values()) | frozenset(EVENT_TYPE_OF_DEADLINE.values())


class DeliverySummary(BaseModel):
    """The facts an email needs, so the notifier never reads the database to render one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    order_id: str
    product_id: str
    process: ProcessName
    state: State
    version: int
    customer_id: str
    customer_email: str
    customer_name: str | None = None
    isv_id: str
    isv_email: str
    #: The delivery's ``customer_locale`` ... ``isv_time_zone``: None is the installation's
    #: default (also in events published before they existed).
    customer_locale: LocaleTag | None = None
    isv_locale: LocaleTag | None = None
    customer_time_zone: TimeZoneName | None = None
    isv_time_zone: TimeZoneName | None = None
    deadlines: list[Deadline] = Field(default_factory=list)


class Event(BaseModel):
    """What one applied command did to a delivery, for the notifier (``dc.notifications``).

    ``type`` is one of :data:`EVENT_TYPES`; ``from_state`` is None for the opening;
    ``occurred_at`` is aware UTC; ``data`` holds the command's words (``reason``, ``note``,
    ``outcome``, ``description``) as the history records them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Unique and stable: derived from the command id, so a replay yields the same id.
    event_id: str
    type: str
    delivery_id: str
    command_id: str
    command: str
    actor: Actor
    occurred_at: datetime
    from_state: State | None
    to_state: State
    delivery: DeliverySummary
    data: dict[str, str] = Field(default_factory=dict)
