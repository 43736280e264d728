"""The shapes of the gateway's answers, as pydantic models: the OpenAPI document is generated
from them and from the command models that validate requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.states import DeadlineKind, ProcessName, State


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the field at fault, e.g. contact.email")
    message: str


class Error(_Answer):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="a stable code, e.g. invalid_input, not_found, rate_limited")
    message: str = Field(description="a sentence for people, naming the field at fault")
    fields: list[FieldError] | None = Field(
        default=None, description="for invalid input: each field at fault"
    )


class Opened(_Answer):
    delivery_id: str
    command_id: str
    status: Literal["accepted"] | None = None


class Accepted(_Answer):
    command_id: str
    status: Literal["accepted"]


class CommandOutcome(_Answer):
    command_id: str
    delivery_id: str
    type: str
    status: Literal["accepted", "applied", "rejected"]
    reason: str | None = Field(description="a stable code when rejected")
    message: str | None


class Attachment(_Answer):
    attachment_id: str
    filename: str
    size: int
    content_type: str
    sha256: str
    uploaded_at: str


class AttachmentRef(_Answer):
    """An attachment as a delivery lists it (only its id if its record is missing)."""

    attachment_id: str


class DeadlineView(_Answer):
    kind: DeadlineKind
    due_at: str | None = Field(description="ISO 8601; null while a dispute pauses it")
    status: str
    remaining_seconds: float | None = None


class DeliverySummary(_Answer):
    delivery_id: str
    order_id: str
    product_id: str
    process: ProcessName
    state: State
    version: int
    customer_id: str
    isv_id: str
    deadlines: list[DeadlineView]
    dispute: dict[str, Any] | None
    updated_at: str


class DeliveryList(_Answer):
    deliveries: list[DeliverySummary]


class DeliveryView(_Answer):
    """The whole delivery: its records, history and refusals."""

    delivery_id: str
    order_id: str
    order_spec: str
    product_id: str
    process: ProcessName
    state: State
    version: int
    contact: dict[str, Any] | None = None
    demands: str | None = None
    attachments: list[AttachmentRef]
    contract: AttachmentRef | None
    deadlines: list[DeadlineView]
    dispute: dict[str, Any] | None = None
    history: list[dict[str, Any]]


class Health(_Answer):
    status: Literal["ok", "ready"]


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Opened,
    Accepted,
    CommandOutcome,
    Attachment,
    DeliveryList,
    DeliveryView,
    Health,
)
