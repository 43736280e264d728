"""Routes for deliveries and their commands."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.gateway.context import caller, gateway_of, may_see
from services.gateway.errors import HttpError, validation_error
from services.gateway.publishing import (
    accept,
    accepted_response,
    command_id_for,
    command_location,
    idempotency_key,
)
from services.gateway.requests import fingerprint, json_body, json_expect
from services.gateway.views import PendingDelivery, delivery_view, summary_view
from services.runtime.collections import (
    ATTACHMENTS,
    COMMAND_OUTCOMES,
    COMMANDS,
    DELIVERIES,
    DELIVERY_DAYS,
)
from services.runtime.delivery_days import newest_first, without_day_fields
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import (
    COMMAND_MODELS,
    PUBLIC_DELIVERY_COMMANDS,
    OpenDelivery,
    address_context,
)
from shared.domain.engine import Reason, Refused, delivery_id_for
from shared.domain.engine import open_delivery as decide_open
from shared.domain.roles import Actor, Role
from shared.domain.states import State

routes = web.RouteTableDef()

#: Commands only an admin may send; refused at the door, the rest is the domain's to judge.
ADMIN_ONLY = frozenset({"terminate", "resolve_dispute"})
_open_adapter = TypeAdapter(OpenDelivery)
_state_adapter = TypeAdapter(State)
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
    "process",
    "warranty_period_seconds",
)
#: Stored names that differ from the request's.
_REQUEST_NAMES = {"warranty_period_seconds": "warranty_period"}
#: Request fields the domain's refusals of an open are about.
_REFUSED_FIELDS = {Reason.WARRANTY_PERIOD_REQUIRED: "warranty_period"}
#: Seconds after which to ask again about a delivery whose open is not applied yet.
PENDING_RETRY_AFTER = 1


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
    return decision.delivery.model_dump(mode="json", include=set(ORDER_FIELDS))


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


def _address_rule(request: web.Request) -> dict[str, Any]:
    """The validation context that holds email addresses to what this installation can send
    to (``DC_SMTP_UTF8``, ``DC_EMAIL_SPECIAL_USE_DOMAINS``): refused with a 422 saying why."""
    return address_context(gateway_of(request).settings.address_policy)


@routes.post("/v1/deliveries", expect_handler=json_expect)
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
        command = _open_adapter.validate_python(body, context=_address_rule(request))
    except ValidationError as error:
        raise validation_error(error) from error
    delivery_id = delivery_id_for(command.order_id)
    command_id = open_command_id(delivery_id)
    now = datetime.now(UTC)
    order = order_of(command, actor, now)
    gateway = gateway_of(request)
    answer = {"delivery_id": delivery_id, "command_id": command_id, "status": "accepted"}
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
        return accepted_response({**answer, "command_id": opened_by}, opened_by)

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


@routes.get("/v1/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    actor = caller(request)
    query: dict[str, Any] = {}
    if actor.role == Role.CUSTOMER:
        query["customer_id"] = actor.id
    elif actor.role == Role.ISV:
        query["isv_id"] = actor.id
    if "state" in request.query:
        try:
            query["state"] = _state_adapter.validate_python(request.query["state"]).value
        except ValidationError as error:
            known = ", ".join(s.value for s in State)
            raise HttpError(400, "invalid_query", f"state must be one of: {known}") from error
    limit = _int_query(request, "limit", default=50, low=1, high=500)
    skip = _int_query(request, "skip", default=0, low=0, high=10**9)
    db = gateway_of(request).db
    projection = without_day_fields({"history": 0, "refusals": 0, "outbox": 0, "stages": 0})
    if "customer_id" in query:
        # A customer's deliveries are few: read them all through the customer_id index.
        cursor = db[DELIVERIES].find(
            query, projection, sort=[("opened_at", -1)], skip=skip, limit=limit
        )
        found = await cursor.to_list()
    else:
        # Every delivery, one ISV's or one state's: read day by day through an index, so a
        # page costs its newest days' rows, never the whole collection.
        found = []
        async for document in newest_first(
            db[DELIVERIES],
            db[DELIVERY_DAYS],
            sort_field="opened_at",
            projection=projection,
            where=query,
        ):
            found.append(document)
            if len(found) >= skip + limit:
                break
        found = found[skip:]
    return web.json_response({"deliveries": [summary_view(d) for d in found]})


def _int_query(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not low <= int(raw) <= high:
        raise HttpError(400, "invalid_query", f"{name} must be a whole number from {low} to {high}")
    return int(raw)


class DeliveryPending(HttpError):
    """The delivery's open is accepted but not applied yet: 409 ``delivery_pending`` to a
    command sent to it, and a 202 to ``GET /v1/deliveries/{id}`` (see ``pending_response``)."""

    def __init__(self, delivery_id: str, command_id: str, opening: Mapping[str, Any]):
        super().__init__(
            409,
            "delivery_pending",
            f"delivery {delivery_id} is accepted but not opened yet; send this again once "
            f"its open, command {command_id}, is applied",
            delivery_id=delivery_id,
            command_id=command_id,
            retry_after=PENDING_RETRY_AFTER,
        )
        self.delivery_id, self.command_id = delivery_id, command_id
        self.order_id = (opening.get("order") or {}).get("order_id")
        self.sender = opening.get("actor") or {}


async def _visible_delivery(request: web.Request, actor: Any, **projection: int) -> dict[str, Any]:
    """The delivery named in the path, if ``actor`` may see it; else 404, or
    ``DeliveryPending`` when its open is accepted and not applied yet.

    Who may see a pending delivery is who may see it once applied (``may_see``), judged on the
    parties its accepted open names: those are the delivery's parties once it is applied.
    """
    delivery_id = request.match_info["delivery_id"]
    db = gateway_of(request).db
    for _ in range(2):
        document = await db[DELIVERIES].find_one({"_id": delivery_id}, projection or None)
        if document is not None:
            break
        command_id = open_command_id(delivery_id)
        opening = await db[COMMANDS].find_one({"_id": command_id}, {"order": 1, "actor": 1})
        order = (opening or {}).get("order") or {}
        if opening is None or not may_see(actor, order):
            break
        outcome = await db[COMMAND_OUTCOMES].find_one({"_id": command_id}, {"status": 1})
        if outcome is None:
            raise DeliveryPending(delivery_id, command_id, opening)
        if outcome["status"] != "applied":
            # Rejected (only before opens were judged at the door): there is no delivery.
            break
        # Applied since the first read: read the delivery again.
    # A delivery that is not the caller's looks the same as one that does not exist.
    if document is None or not may_see(actor, document):
        raise HttpError(404, "not_found", f"no delivery {delivery_id} for this caller")
    return document


def pending_response(pending: DeliveryPending) -> web.Response:
    """202 ``{delivery_id, order_id, state: null, command_id, status: "accepted"}`` for a
    delivery not applied yet, with ``Location``: its open's status, which whoever may see the
    delivery may read (``may_read_command``)."""
    headers = {
        "Retry-After": str(PENDING_RETRY_AFTER),
        "Location": command_location(pending.command_id),
    }
    view = PendingDelivery(
        delivery_id=pending.delivery_id, order_id=pending.order_id, command_id=pending.command_id
    )
    return web.json_response(view.model_dump(mode="json"), status=202, headers=headers)


@routes.get("/v1/deliveries/{delivery_id}")
async def get_delivery(request: web.Request) -> web.Response:
    actor = caller(request)
    try:
        document = await _visible_delivery(request, actor)
    except DeliveryPending as pending:
        return pending_response(pending)
    ids = list(document.get("attachments", [])) + (
        [document["contract"]] if document.get("contract") else []
    )
    # Only ask when there is something to ask: FerretDB scans the collection for an empty $in.
    cursor = gateway_of(request).db[ATTACHMENTS].find({"_id": {"$in": ids}}) if ids else None
    files = {f["_id"]: f async for f in cursor} if cursor is not None else {}
    return web.json_response(delivery_view(document, files))


@routes.post("/v1/deliveries/{delivery_id}/commands", expect_handler=json_expect)
async def send_command(request: web.Request) -> web.Response:
    actor = caller(request, Role.CUSTOMER, Role.ISV, Role.ADMIN)
    body = await json_body(request)
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in PUBLIC_DELIVERY_COMMANDS:
        known = ", ".join(sorted(PUBLIC_DELIVERY_COMMANDS))
        raise HttpError(
            422,
            "unknown_command",
            f"type must be one of: {known}",
            field="type",
            fields=[{"field": "type", "message": "unknown command type"}],
        )
    try:
        command = COMMAND_MODELS[kind].model_validate(body, context=_address_rule(request))
    except ValidationError as error:
        raise validation_error(error) from error
    if kind in ADMIN_ONLY and actor.role != Role.ADMIN:
        raise HttpError(403, "forbidden", f"only an admin may {kind}")
    document = await _visible_delivery(request, actor, customer_id=1, isv_id=1)
    gateway = gateway_of(request)
    command_id = command_id_for(actor, idempotency_key(request))
    envelope = CommandEnvelope(
        command_id=command_id,
        delivery_id=document["_id"],
        actor=actor,
        issued_at=datetime.now(UTC),
        command=command,
    )
    await accept(gateway, envelope, fingerprint(body, document["_id"]))
    return accepted_response({"command_id": command_id, "status": "accepted"}, command_id)


def may_read_command(
    actor: Actor, sender: Mapping[str, Any], opened: Mapping[str, Any] | None = None
) -> bool:
    """A command's status is its sender's and an admin's to read; an open's (``opened``: the
    order it opens, or its delivery) also everyone's who may see that delivery (``may_see``:
    any marketplace, its customer and ISV), so the ``Location`` of every 202 for an order,
    whoever repeated it, can be followed."""
    if opened is not None and may_see(actor, opened):
        return True
    return actor.role == Role.ADMIN or (sender.get("id"), sender.get("role")) == (
        actor.id,
        actor.role,
    )


@routes.get("/v1/commands/{command_id}")
async def get_command(request: web.Request) -> web.Response:
    actor = caller(request)
    command_id = request.match_info["command_id"]
    db = gateway_of(request).db
    # Commands sent over HTTP have a record; those from the bus only an outcome.
    record = await db[COMMANDS].find_one({"_id": command_id}, {"body_hash": 0})
    outcome = await db[COMMAND_OUTCOMES].find_one({"_id": command_id})
    known = record or outcome
    opened = None
    if known is not None and known.get("type") == "open_delivery":
        opened = (record or {}).get("order") or await db[DELIVERIES].find_one(
            {"_id": known["delivery_id"]}, {"customer_id": 1, "isv_id": 1}
        )
    if known is None or not may_read_command(actor, known.get("actor") or {}, opened):
        # A command published on the bus has no record until the workflow has decided it.
        raise HttpError(
            404,
            "not_found",
            f"no command {command_id} sent by this caller; one published on the bus "
            "shows here once the workflow has decided it",
        )
    return web.json_response(
        {
            "command_id": command_id,
            "delivery_id": known["delivery_id"],
            "type": known["type"],
            "status": outcome["status"] if outcome else "accepted",
            "reason": outcome and outcome["reason"],
            "message": outcome and outcome["message"],
        }
    )
