"""The gateway's JSON answers, one pydantic model each: the handlers build these models and
send them (:func:`json_answer`), and the OpenAPI document's components are generated from the
same models (``openapi.py``).

Times are the stored ``datetime``'s ``isoformat()`` (``2026-11-30T11:53:42.123000+00:00``),
kept as strings: pydantic would write UTC as ``Z``. Every answer allows fields beyond those
declared (``extra="allow"``): a delivery shows every stored field but the bookkeeping ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.runtime.collections import BOOKKEEPING_FIELDS
from shared.domain.roles import Actor
from shared.domain.states import DeadlineKind, ProcessName, State

#: Stored fields of a delivery that are bookkeeping and never shown.
HIDDEN_FIELDS = BOOKKEEPING_FIELDS


def jsonable(value: Any) -> Any:
    """``value`` (a stored document's value: dicts, lists, datetimes, JSON scalars) with every
    datetime as its ``isoformat()`` string."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def json_answer(
    answer: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """``answer`` as the body of a JSON response: the fields it was given (unset defaults are
    left out, as the answer never had them), in ``json.dumps``'s formatting."""
    return web.json_response(answer_body(answer), status=status, headers=headers)


def answer_body(answer: BaseModel) -> dict[str, Any]:
    """The JSON object :func:`json_answer` sends for ``answer``."""
    return answer.model_dump(mode="json", exclude_unset=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(_Answer):
    """One field at fault in a 422 ``invalid_input`` answer, and what is wrong with it."""

    field: str = Field(description="dotted path of the field at fault, e.g. contact.email")
    message: str


class Error(_Answer):
    """Every 4xx and 5xx answer; a refusal may add fields, e.g. delivery_id, retry_after."""

    error: str = Field(description="a stable code, e.g. invalid_input, not_found, rate_limited")
    message: str = Field(description="a sentence for people, naming the field at fault")
    fields: list[FieldError] | None = Field(
        default=None, description="for invalid input: each field at fault"
    )


class Opened(_Answer):
    """202 to POST /v1/deliveries: the order's delivery and the command that opens it."""

    delivery_id: str
    command_id: str
    status: Literal["accepted"] | None = None


class Accepted(_Answer):
    """202 to a command: its id; its outcome is at /v1/commands/{command_id}."""

    command_id: str
    status: Literal["accepted"]


class CommandOutcome(_Answer):
    """A command's outcome so far (GET /v1/commands/{command_id})."""

    command_id: str
    delivery_id: str
    type: str
    status: Literal["accepted", "applied", "rejected"]
    reason: str | None = Field(description="a stable code when rejected")
    message: str | None

    @classmethod
    def of(
        cls, command_id: str, known: Mapping[str, Any], outcome: Mapping[str, Any] | None
    ) -> CommandOutcome:
        """From the command's record or outcome (``known``: its ``delivery_id`` and ``type``)
        and its outcome document, None while it is not decided: then ``accepted``."""
        return cls(
            command_id=command_id,
            delivery_id=known["delivery_id"],
            type=known["type"],
            status=outcome["status"] if outcome else "accepted",
            reason=outcome["reason"] if outcome else None,
            message=outcome["message"] if outcome else None,
        )


class AttachmentRef(_Answer):
    """An attachment as a delivery lists it when its record is missing: only its id."""

    attachment_id: str


class Attachment(_Answer):
    """An attachment's facts: 201 to an upload, and each file a delivery lists."""

    attachment_id: str
    filename: str
    size: int = Field(description="bytes")
    content_type: str = Field(description="as judged from its bytes")
    sha256: str = Field(description="of its bytes, in hex")
    uploaded_at: str = Field(description="ISO 8601")

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Attachment:
        """From a stored attachment record (``services.runtime.collections.ATTACHMENTS``)."""
        return cls(
            attachment_id=record["_id"],
            filename=record["filename"],
            size=record["size"],
            content_type=record["content_type"],
            sha256=record["sha256"],
            uploaded_at=record["uploaded_at"].isoformat(),
        )


def _file(attachment_id: str, files: Mapping[str, Mapping[str, Any]]) -> Attachment | AttachmentRef:
    record = files.get(attachment_id)
    return Attachment.of(record) if record else AttachmentRef(attachment_id=attachment_id)


class DeadlineView(_Answer):
    """A deadline of the delivery: the confirmation window, the reminder before it or the
    warranty period. ``status`` is active, paused (by an open dispute; ``remaining_seconds``
    is the time it had left), cancelled (the customer acted first) or fired."""

    kind: DeadlineKind
    due_at: str | None = Field(description="ISO 8601; null while a dispute pauses it")
    status: str
    remaining_seconds: float | None = None

    @classmethod
    def all_of(cls, document: Mapping[str, Any]) -> list[DeadlineView]:
        """The stored delivery's deadlines, in their stored order."""
        return [
            cls(
                kind=d["kind"],
                due_at=d["due_at"].isoformat() if d.get("due_at") else None,
                status=d["status"],
                remaining_seconds=d.get("remaining_seconds"),
            )
            for d in document.get("deadlines", [])
        ]


#: A time in an answer: the stored datetime's ``isoformat()`` (pydantic would write UTC as ``Z``).
Moment = Annotated[str, Field(description="ISO 8601, UTC as +00:00")]


def _written_whole(schema: dict[str, Any]) -> None:
    """The JSON Schema of a stored record's answer: every field required, as the workflow
    writes each record whole (the domain model's ``model_dump``), nulls included. The model
    itself takes a record missing some (each field has a default), and the answer then leaves
    them out too (``exclude_unset``): an answer never invents a field the document lacks."""
    properties = schema.get("properties", {})
    schema["required"] = list(properties)
    for field in properties.values():
        if field.get("default", ...) is None and "anyOf" not in field:
            del field["default"]  # a placeholder, not a value the answer can hold


class _Record(_Answer):
    model_config = ConfigDict(extra="allow", json_schema_extra=_written_whole)


class ContactView(_Record):
    """The customer's contact, as they submitted it with the demands."""

    name: str = None
    phone: str = None
    email: str = None


class HistoryView(_Record):
    """An applied command (``shared.domain.delivery.HistoryEntry``): who, when, from which
    state (null for the opening) to which, and the words it recorded (``reason``, ``note``,
    ``outcome``, ``description``)."""

    command_id: str = None
    command: str = None
    actor: Actor = None
    at: Moment = None
    from_state: State | None = None
    to_state: State = None
    details: dict[str, str] = None


class RefusalView(_Record):
    """A refused command (``shared.domain.delivery.RefusedEntry``): who, when, in which state,
    and why, as a stable ``code`` and a ``message`` for people."""

    command_id: str = None
    command: str = None
    actor: Actor = None
    at: Moment = None
    state: State = None
    code: str = None
    message: str = None


class ReviewView(_Record):
    """The customer's (or the clock's) answer to a deliverable."""

    outcome: Literal["confirmed", "changes_requested", "auto_confirmed"] = None
    by: Actor = None
    at: Moment = None
    reason: str | None = None


class StageView(_Record):
    """A deliverable of the ISV (a ``finish``): its note, files (attachment ids) and reviews."""

    stage: State = None
    note: str | None = None
    attachments: list[str] = None
    finished_at: Moment = None
    reviews: list[ReviewView] = None


class DisputeView(_Record):
    """A dispute: while ``open`` the deadlines are paused and only an admin acts."""

    status: Literal["open", "resolved"] = None
    opened_by: Actor = None
    reason: str = None
    opened_at: Moment = None
    outcome: Literal["continue", "terminate"] | None = None
    note: str | None = None
    resolved_by: Actor | None = None
    resolved_at: Moment | None = None


class WarrantyRequestView(_Record):
    """A customer's request for warranty service: what and when."""

    description: str = None
    at: Moment = None


class DeliverySummary(_Answer):
    """A delivery as a list shows it."""

    delivery_id: str
    order_id: str
    product_id: str
    process: ProcessName
    state: State
    version: int
    customer_id: str
    isv_id: str
    deadlines: list[DeadlineView]
    dispute: DisputeView | None
    updated_at: Moment

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> DeliverySummary:
        """From a stored delivery (``DELIVERIES``; history and stages need not be read)."""
        return cls(
            delivery_id=document["_id"],
            order_id=document["order_id"],
            product_id=document["product_id"],
            process=document["process"],
            state=document["state"],
            version=document["version"],
            customer_id=document["customer_id"],
            isv_id=document["isv_id"],
            deadlines=DeadlineView.all_of(document),
            dispute=jsonable(document.get("dispute")),
            updated_at=document["updated_at"].isoformat(),
        )


class DeliveryList(_Answer):
    """GET /v1/deliveries: newest first."""

    deliveries: list[DeliverySummary]


class DeliveryView(_Record):
    """The whole delivery: its records, history and refusals; every stored field but the
    bookkeeping ones, times as ISO 8601 strings."""

    #: Left out of the answer: stored bookkeeping.
    hidden: ClassVar[frozenset[str]] = HIDDEN_FIELDS

    delivery_id: str
    order_id: str = None
    order_spec: str = None
    product_id: str = None
    process: ProcessName = None
    state: State = None
    version: int = None
    customer_id: str = None
    customer_email: str = None
    isv_id: str = None
    isv_email: str = None
    warranty_period_seconds: int | None = Field(
        default=None, description="the warranty's length, for double_check deliveries"
    )
    contact: ContactView | None = None
    demands: str | None = None
    attachments: list[Attachment | AttachmentRef]
    contract: Attachment | AttachmentRef | None
    stages: list[StageView] = None
    warranty_requests: list[WarrantyRequestView] = None
    deadlines: list[DeadlineView]
    dispute: DisputeView | None = None
    history: list[HistoryView] = None
    refusals: list[RefusalView] = Field(
        default=None, description="commands refused, and why; they changed nothing"
    )
    opened_at: Moment = None
    updated_at: Moment = None

    @classmethod
    def of(
        cls, document: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]]
    ) -> DeliveryView:
        """From a stored delivery and the records of its files by id (``ATTACHMENTS``; a file
        without a record is shown by its id)."""
        shown = {k: jsonable(v) for k, v in document.items() if k not in cls.hidden}
        contract = document.get("contract")
        return cls(
            **{
                **shown,
                "delivery_id": document["_id"],
                "deadlines": DeadlineView.all_of(document),
                "attachments": [_file(a, files) for a in document.get("attachments", [])],
                "contract": _file(contract, files) if contract else None,
            }
        )


class PendingDelivery(BaseModel):
    """A delivery whose open is accepted and not applied yet: ``GET /v1/deliveries/{id}``
    answers it with 202 until the workflow has opened it."""

    delivery_id: str
    order_id: str | None = Field(description="null only for opens accepted before it was kept")
    state: None = Field(description="null until the open is applied")
    command_id: str = Field(description="the open; its status is at /v1/commands/{command_id}")
    status: Literal["accepted"]

    @classmethod
    def of(cls, delivery_id: str, order_id: str | None, command_id: str) -> PendingDelivery:
        """The delivery ``delivery_id`` of order ``order_id``, opened by ``command_id``."""
        return cls(
            delivery_id=delivery_id,
            order_id=order_id,
            state=None,
            command_id=command_id,
            status="accepted",
        )


class Health(_Answer):
    """200 to GET /healthz (``ok``: the process is up) and GET /readyz (``ready``: the
    broker and the database are reachable)."""

    status: Literal["ok", "ready"]
