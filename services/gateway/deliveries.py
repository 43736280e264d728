"""Routes for deliveries and their commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.collections import (
    ATTACHMENTS,
    COMMAND_OUTCOMES,
    COMMANDS,
    DELIVERIES,
    DELIVERY_DAYS,
)
from services.delivery_days import newest_first, without_day_fields
from services.gateway.context import caller, gateway_of, may_see
from services.gateway.errors import HttpError, validation_error
from services.gateway.publishing import accept, command_id_for
from services.gateway.requests import fingerprint, json_body
from services.gateway.views import delivery_view, summary_view
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import COMMAND_MODELS, PUBLIC_DELIVERY_COMMANDS, OpenDelivery
from shared.domain.engine import delivery_id_for
from shared.domain.roles import Role
from shared.domain.states import State

routes = web.RouteTableDef()

#: Commands only an admin may send; refused at the door, the rest is the domain's to judge.
ADMIN_ONLY = frozenset({"terminate", "resolve_dispute"})
_open_adapter = TypeAdapter(OpenDelivery)
_state_adapter = TypeAdapter(State)
#: Longest warranty accepted: every deadline must stay a representable date.
MAX_WARRANTY = timedelta(days=100 * 365)
#: Fields that must agree when an order is opened again.
_SAME_ORDER = ("order_spec", "product_id", "isv_id", "customer_id", "process")


@routes.post("/v1/deliveries")
async def open_delivery(request: web.Request) -> web.Response:
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
        command = _open_adapter.validate_python(body)
    except ValidationError as error:
        raise validation_error(error) from error
    if command.warranty_period is not None and command.warranty_period > MAX_WARRANTY:
        raise HttpError(
            422,
            "invalid_input",
            f"warranty_period: may be at most {MAX_WARRANTY.days} days",
            fields=[{"field": "warranty_period", "message": "too long"}],
        )
    gateway = gateway_of(request)
    delivery_id = delivery_id_for(command.order_id)
    # The same order always yields the same command, so a retried open is applied once.
    command_id = f"open:{delivery_id}"
    existing = await gateway.db[DELIVERIES].find_one(
        {"_id": delivery_id}, dict.fromkeys(_SAME_ORDER, 1)
    )
    if existing is not None:
        differing = [f for f in _SAME_ORDER if existing.get(f) != getattr(command, f)]
        if differing:
            raise HttpError(
                409,
                "order_already_open",
                f"order {command.order_id} already has delivery {delivery_id} with another "
                + ", ".join(differing),
                delivery_id=delivery_id,
            )
        return web.json_response({"delivery_id": delivery_id, "command_id": command_id}, status=202)
    envelope = CommandEnvelope(
        command_id=command_id,
        delivery_id=delivery_id,
        actor=actor,
        issued_at=datetime.now(UTC),
        command=command,
    )
    await accept(gateway, envelope, fingerprint(body))
    return web.json_response(
        {"delivery_id": delivery_id, "command_id": envelope.command_id, "status": "accepted"},
        status=202,
    )


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


async def _visible_delivery(request: web.Request, actor: Any, **projection: int) -> dict[str, Any]:
    delivery_id = request.match_info["delivery_id"]
    document = (
        await gateway_of(request).db[DELIVERIES].find_one({"_id": delivery_id}, projection or None)
    )
    # A delivery that is not the caller's looks the same as one that does not exist.
    if document is None or not may_see(actor, document):
        raise HttpError(404, "not_found", f"no delivery {delivery_id} for this caller")
    return document


@routes.get("/v1/deliveries/{delivery_id}")
async def get_delivery(request: web.Request) -> web.Response:
    actor = caller(request)
    document = await _visible_delivery(request, actor)
    ids = list(document.get("attachments", [])) + (
        [document["contract"]] if document.get("contract") else []
    )
    # Only ask when there is something to ask: FerretDB scans the collection for an empty $in.
    cursor = gateway_of(request).db[ATTACHMENTS].find({"_id": {"$in": ids}}) if ids else None
    files = {f["_id"]: f async for f in cursor} if cursor is not None else {}
    return web.json_response(delivery_view(document, files))


@routes.post("/v1/deliveries/{delivery_id}/commands")
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
        command = COMMAND_MODELS[kind].model_validate(body)
    except ValidationError as error:
        raise validation_error(error) from error
    if kind in ADMIN_ONLY and actor.role != Role.ADMIN:
        raise HttpError(403, "forbidden", f"only an admin may {kind}")
    document = await _visible_delivery(request, actor, customer_id=1, isv_id=1)
    gateway = gateway_of(request)
    command_id = command_id_for(actor, request.headers.get("Idempotency-Key"))
    envelope = CommandEnvelope(
        command_id=command_id,
        delivery_id=document["_id"],
        actor=actor,
        issued_at=datetime.now(UTC),
        command=command,
    )
    await accept(gateway, envelope, fingerprint(body, document["_id"]))
    return web.json_response({"command_id": command_id, "status": "accepted"}, status=202)


@routes.get("/v1/commands/{command_id}")
async def get_command(request: web.Request) -> web.Response:
    actor = caller(request)
    command_id = request.match_info["command_id"]
    db = gateway_of(request).db
    # Commands sent over HTTP have a record; those from the bus only an outcome.
    record = await db[COMMANDS].find_one({"_id": command_id}, {"body_hash": 0})
    outcome = await db[COMMAND_OUTCOMES].find_one({"_id": command_id})
    known = record or outcome
    sender = known and known["actor"]
    if known is None or (
        actor.role != Role.ADMIN and (sender["id"], sender["role"]) != (actor.id, actor.role)
    ):
        raise HttpError(404, "not_found", f"no command {command_id} sent by this caller")
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
