"""Opening a delivery for an order (``POST /v1/deliveries``): the order's one delivery and
one open command, judged at the door so that an accepted open is applied, and a repeat of the
same order answered as the first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.gateway.context import caller, gateway_of
from services.gateway.contracts import (
    CALLER_ERRORS,
    COMMAND_OUTCOME_LINK,
    JSON_BODY_ERRORS,
    LOCATION,
    Body,
    Reply,
    documented,
    error,
    framing_errors,
    links_to_delivery,
)
from services.gateway.errors import HttpError, validation_error
from services.gateway.models import Opened
from services.gateway.publishing import accept, accepted_response
from services.gateway.requests import fingerprint, json_body, json_expect
from services.runtime.collections import DELIVERIES
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import OpenDelivery, address_context
from shared.domain.delivery import READER_FIELDS
from shared.domain.engine import Reason, Refused, delivery_id_for
from shared.domain.engine import open_delivery as decide_open
from shared.domain.roles import Actor, Role

routes = web.RouteTableDef()
_open_adapter = TypeAdapter(OpenDelivery)
#: What an order is: the delivery's fields an open sets, named as the delivery stores them.
#: ``type`` is not among them (absent and ``open_delivery`` are the same request), and each
#: value is the domain's normal form (trimmed text, lower-case email, a period in seconds).
ORDER_FIELDS = (
    "order_id",
    "order_spec",
    "product_id",
    "isv_id",
    "customer_id",
    "customer_email",
    "isv_email",
    *READER_FIELDS,
    "process",
    "warranty_period_seconds",
)
#: Stored names that differ from the request's.
_REQUEST_NAMES = {"warranty_period_seconds": "warranty_period"}
#: Request fields the domain's refusals of an open are about.
_REFUSED_FIELDS = {Reason.WARRANTY_PERIOD_REQUIRED: "warranty_period"}


def open_command_id(delivery_id: str) -> str:
    """The id of the command that opens ``delivery_id`` over HTTP: one order, one command."""
    return f"open:{delivery_id}"


def order_differences(known: Mapping[str, Any], order: Mapping[str, Any]) -> list[str]:
    """The request fields in which ``order`` differs from ``known`` (a delivery document, or
    the order kept with an accepted open); both hold ``ORDER_FIELDS`` as stored."""
    return [_REQUEST_NAMES.get(f, f) for f in ORDER_FIELDS if known.get(f) != order.get(f)]


def order_of(command: OpenDelivery, actor: Actor, now: datetime) -> dict[str, Any]:
    """The order ``command`` opens, as its delivery will store it (``ORDER_FIELDS``, JSON
    values); 422 ``invalid_input`` if the domain would refuse to open it (e.g. a
    ``double_check`` without ``warranty_period``), so that an accepted open is applied."""
    decision = decide_open(command, actor, command_id="judged-at-the-door", now=now)
    if isinstance(decision, Refused):
        field = _REFUSED_FIELDS.get(decision.code)
        raise HttpError(
            422,
            "invalid_input",
            f"{field}: {decision.message}" if field else decision.message,
            **({"fields": [{"field": field, "message": decision.message}]} if field else {}),
        )
    order = decision.delivery.model_dump(mode="json", include=set(ORDER_FIELDS))
    # A reader field left out is left out of the order, as opens accepted before the fields
    # existed kept it: a retry of such an open has the same fingerprint.
    return {k: v for k, v in order.items() if v is not None or k not in READER_FIELDS}


def _already_open(order_id: str, delivery_id: str, differing: list[str] | None) -> HttpError:
    """409: the order has its delivery, opened or accepted, with other details."""
    which = ", ".join(differing) if differing else "details"
    fields = [{"field": f, "message": "differs from the open order"} for f in differing or []]
    return HttpError(
        409,
        "order_already_open",
        f"order {order_id} already has delivery {delivery_id} with another {which}; "
        "an order is opened once, and a retry must repeat the same order",
        delivery_id=delivery_id,
        **({"fields": fields} if fields else {}),
    )


def address_rule(request: web.Request) -> dict[str, Any]:
    """The validation context that holds email addresses to what this installation can send
    to (``DC_SMTP_UTF8``, ``DC_EMAIL_SPECIAL_USE_DOMAINS``): refused with a 422 saying why."""
    return address_context(gateway_of(request).settings.address_policy)


@routes.post("/v1/deliveries", expect_handler=json_expect)
@documented(
    "Open a delivery for a paid order (marketplace, admin)",
    body=Body(models=(OpenDelivery,)),
    responses={
        202: Reply(
            "accepted, or accepted before: the same order gives the same ids",
            Opened,
            headers=LOCATION,
            links={
                **links_to_delivery("$response.body#/delivery_id"),
                **COMMAND_OUTCOME_LINK,
            },
        ),
        409: error(
            "order_already_open: the order is open or accepted with other "
            "details; `delivery_id` names its delivery, `fields` what differs"
        ),
        **JSON_BODY_ERRORS,
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def open_delivery(request: web.Request) -> web.Response:
    """Open a delivery for an order: 202 ``{delivery_id, command_id, status}`` for the first
    open and every repeat of the same order (its ``order_id`` is the idempotency key; an
    ``Idempotency-Key`` header changes nothing), 409 ``order_already_open`` for the same
    ``order_id`` with other details, whether or not the first open is applied yet."""
    actor = caller(request, Role.MARKETPLACE, Role.ADMIN)
    body = await json_body(request)
    if body.pop("type", "open_delivery") != "open_delivery":
        raise HttpError(
            422,
            "invalid_input",
            "type: a new delivery is opened with type 'open_delivery' or no type",
            fields=[{"field": "type", "message": "must be 'open_delivery' or absent"}],
        )
    try:
        command = _open_adapter.validate_python(body, context=address_rule(request))
    except ValidationError as error:
        raise validation_error(error) from error
    delivery_id = delivery_id_for(command.order_id)
    command_id = open_command_id(delivery_id)
    now = datetime.now(UTC)
    order = order_of(command, actor, now)
    gateway = gateway_of(request)
    answer = Opened(delivery_id=delivery_id, command_id=command_id, status="accepted")
    existing = await gateway.db[DELIVERIES].find_one(
        {"_id": delivery_id}, {**dict.fromkeys(ORDER_FIELDS, 1), "history": 1}
    )
    if existing is not None:
        differing = order_differences(existing, order)
        if differing:
            raise _already_open(command.order_id, delivery_id, differing)
        # An order opened on the bus was opened by a command of its publisher's choosing.
        history = existing.get("history") or [{}]
        opened_by = history[0].get("command_id", command_id)
        return accepted_response(answer.model_copy(update={"command_id": opened_by}), opened_by)

    def pending_conflict(earlier: Mapping[str, Any]) -> HttpError:
        kept = earlier.get("order")
        return _already_open(
            command.order_id, delivery_id, order_differences(kept, order) if kept else None
        )

    envelope = CommandEnvelope(
        command_id=command_id, delivery_id=delivery_id, actor=actor, issued_at=now, command=command
    )
    await accept(
        gateway,
        envelope,
        fingerprint(order),
        details={"order": order},
        conflict=pending_conflict,
    )
    return accepted_response(answer, command_id)
