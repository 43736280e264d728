"""The gateway's JSON answers, one pydantic model each: the handlers build these models and
send them (:func:`json_answer`), and the OpenAPI document's components are generated from the
same models (``openapi.py``). A delivery's records (its contact, stages, dispute, history,
refusals) are the domain's own models (``shared.domain.delivery``): the answer shows them as
the workflow stored them.

Times are written as ``datetime.isoformat()`` (``2026-11-30T11:53:42.123000+00:00``; pydantic
would write UTC as ``Z``), which is RFC 3339 as the schemas' ``format: date-time`` says; days
as ``date.isoformat()`` (``2026-11-30``, ``format: date``).
Every answer allows fields beyond those declared (``extra="allow"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import copy
from datetime import date, datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from services.runtime.collections import BOOKKEEPING_FIELDS
from shared.domain.delivery import DeadlineStatus, Delivery
from shared.domain.score_periods import Period
from shared.domain.scorecard import Figures, Score, Scorecard
from shared.domain.states import DeadlineKind


def jsonable(value: Any) -> Any:
    """``value`` (a stored document's value: dicts, lists, datetimes, JSON scalars) with every
    datetime (and date) as its ``isoformat()`` string."""
    if isinstance(value, date):  # a datetime is a date too
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
    """The JSON object :func:`json_answer` sends for ``answer``: its fields as given (unset
    defaults left out), times as ``isoformat()`` strings."""
    return jsonable(answer.model_dump(mode="python", exclude_unset=True))


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class FieldError(_Answer):
    """One field at fault in a 422 ``invalid_input`` answer, and what is wrong with it."""

    field: str = Field(description="dotted path of the field at fault, e.g. contact.email")
    message: str


#: Every ``error`` code the gateway answers, by HTTP status (``tests/unit/test_error_codes``
#: finds each code the gateway's code writes here). Each operation's answers in the OpenAPI
#: document name the codes it gives.
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: (
        "file_empty",
        "file_missing",
        "file_name_unreadable",
        "invalid_idempotency_key",
        "invalid_query",
        "malformed_body",
        "malformed_json",
        "malformed_multipart",
    ),
    401: ("unauthenticated",),
    403: ("forbidden",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    409: ("delivery_pending", "order_already_open", "webhook_disabled"),
    411: ("length_required",),
    413: ("body_too_large", "file_too_large", "too_many_fields"),
    415: ("multipart_required", "unsupported_content_encoding"),
    417: ("expectation_failed",),
    422: ("idempotency_key_reused", "invalid_input", "invalid_period", "unknown_command"),
    429: ("rate_limited",),
    500: ("attachment_unreadable", "internal_error"),
    503: ("broker_timeout", "broker_unavailable", "database_unavailable"),
}


class Error(_Answer):
    """Every 4xx and 5xx answer; a refusal may add fields, e.g. delivery_id, retry_after."""

    error: str = Field(
        description="a stable code; by status: "
        + "; ".join(f"{status} {', '.join(codes)}" for status, codes in ERROR_CODES.items())
    )
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
    uploaded_at: datetime

    @classmethod
    def of(cls, record: Mapping[str, Any]) -> Attachment:
        """From a stored attachment record (``services.runtime.collections.ATTACHMENTS``)."""
        return cls(
            attachment_id=record["_id"],
            filename=record["filename"],
            size=record["size"],
            content_type=record["content_type"],
            sha256=record["sha256"],
            uploaded_at=record["uploaded_at"],
        )


def _file(attachment_id: str, files: Mapping[str, Mapping[str, Any]]) -> Attachment | AttachmentRef:
    record = files.get(attachment_id)
    return Attachment.of(record) if record else AttachmentRef(attachment_id=attachment_id)


class DeadlineView(_Answer):
    """A deadline of the delivery: the confirmation window, the reminder before it or the
    warranty period. ``status`` is active, paused (by an open dispute; ``remaining_seconds``
    is the time it had left), cancelled (the customer acted first) or fired."""

    kind: DeadlineKind
    due_at: datetime | None = Field(description="null while a dispute pauses it")
    status: DeadlineStatus
    remaining_seconds: float | None = None

    @classmethod
    def all_of(cls, document: Mapping[str, Any]) -> list[DeadlineView]:
        """The stored delivery's deadlines, in their stored order."""
        return [
            cls(
                kind=d["kind"],
                due_at=d.get("due_at"),
                status=d["status"],
                remaining_seconds=d.get("remaining_seconds"),
            )
            for d in document.get("deadlines", [])
        ]


#: The fields of a delivery that a list shows (each always sent), in :class:`Delivery`'s order.
SUMMARY_FIELDS = (
    "delivery_id",
    "order_id",
    "product_id",
    "process",
    "state",
    "version",
    "customer_id",
    "isv_id",
    "deadlines",
    "dispute",
    "updated_at",
)


def _always_sent(info: FieldInfo) -> FieldInfo:
    """``info``, a field of :class:`Delivery` (its type, constraints and words), without its
    default: the summary always sends it."""
    sent = copy(info)
    sent.default = PydanticUndefined
    return sent


# Delivery's own declarations of the summary's fields; its deadlines are DeadlineView.
_SummaryFields = create_model(
    "_SummaryFields",
    __base__=_Answer,
    **{
        name: (list[DeadlineView], ...)
        if name == "deadlines"
        else (info.annotation, _always_sent(info))
        for name, info in Delivery.model_fields.items()
        if name in SUMMARY_FIELDS
    },
)


class DeliverySummary(_SummaryFields):
    """A delivery as a list shows it."""

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
            dispute=document.get("dispute"),
            updated_at=document["updated_at"],
        )


class DeliveryList(_Answer):
    """GET /v1/deliveries: newest first."""

    deliveries: list[DeliverySummary]


class DeliveryView(Delivery):
    """The whole delivery as the workflow stored it (``shared.domain.delivery.Delivery``):
    its records, history and refusals, with each file's facts in place of its id and the
    deadlines as ``DeadlineView`` (without their internal ids)."""

    model_config = ConfigDict(extra="allow")

    attachments: list[Attachment | AttachmentRef] = Field(default_factory=list)
    contract: Attachment | AttachmentRef | None = None
    deadlines: list[DeadlineView] = Field(default_factory=list)

    @classmethod
    def of(
        cls, document: Mapping[str, Any], files: Mapping[str, Mapping[str, Any]]
    ) -> DeliveryView:
        """From a stored delivery (``DELIVERIES``) and the records of its files by id
        (``ATTACHMENTS``; a file without a record is shown by its id).

        Raises:
          pydantic.ValidationError: the document is not a delivery the workflow wrote.
        """
        shown = {k: v for k, v in document.items() if k not in BOOKKEEPING_FIELDS}
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


class PendingDelivery(_Answer):
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


class ScorecardPeriod(_Answer):
    """A scorecard's period: the UTC days from ``first_day`` to ``last_day``, both included;
    its figures are about the deliveries opened on those days."""

    first_day: date
    last_day: date
    days: int

    @classmethod
    def of(cls, period: Period) -> ScorecardPeriod:
        """From the domain's ``Period``."""
        return cls(first_day=period.first, last_day=period.last, days=period.days)


class ScorecardView(_Answer):
    """GET /v1/isvs/{isv_id}/scorecard: an ISV's delivery-quality figures and 0-100 score for
    a period, with the score of the period just before it (README, "Delivery score")."""

    isv_id: str
    period: ScorecardPeriod
    previous_period: ScorecardPeriod = Field(
        description="as many days, just before period: the trend's baseline"
    )
    patience_seconds: float = Field(
        description="DC_CONFIRM_WINDOW: one wait on the ISV longer than this is overdue"
    )
    computed_at: datetime = Field(description="now: a running wait on the ISV counts up to it")
    figures: Figures = Field(
        description="counts are of the deliveries opened in the period; shares are 0-1, null "
        "when there is nothing to divide by; times are seconds (median, nearest-rank p90)"
    )
    score: Score = Field(
        description="total 0-100 (null without deliveries) and each component's value, "
        "points and max_points (null where it has no data)"
    )
    previous_score: float | None = Field(description="the previous period's total")
    trend: float | None = Field(description="score.total - previous_score; null if either is")

    @classmethod
    def of(
        cls, card: Scorecard, period: Period, now: datetime, patience: timedelta
    ) -> ScorecardView:
        """From the domain's ``Scorecard`` of ``period``, computed at ``now`` with
        ``patience``."""
        total, previous = card.score.total, card.previous_score
        return cls(
            isv_id=card.isv_id or "",
            period=ScorecardPeriod.of(period),
            previous_period=ScorecardPeriod.of(period.previous()),
            patience_seconds=patience.total_seconds(),
            computed_at=now,
            figures=card.figures,
            score=card.score,
            previous_score=previous,
            trend=None if total is None or previous is None else round(total - previous, 1),
        )
