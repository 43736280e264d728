"""Routes for deliveries and their commands: the list, one delivery (or its pending open),
and sending a command; opening one is ``opening.py``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.gateway.attachments import files_by_id
from services.gateway.context import PARTIES_ONLY, caller, gateway_of, may_see, visible_delivery
from services.gateway.contracts import (
    CALLER_ERRORS,
    COMMAND_OUTCOME_LINK,
    JSON_BODY_ERRORS,
    LOCATION,
    RETRY_AFTER,
    Body,
    Reply,
    documented,
    error,
    framing_errors,
    parameter,
)
from services.gateway.errors import HttpError, validation_error
from services.gateway.models import (
    Accepted,
    DeliveryList,
    DeliverySummary,
    DeliveryView,
    PendingDelivery,
    json_answer,
)
from services.gateway.opening import address_rule, open_command_id
from services.gateway.publishing import (
    IDEMPOTENCY_KEY_SCHEMA,
    accept,
    accepted_response,
    command_id_for,
    command_location,
    idempotency_key,
)
from services.gateway.requests import fingerprint, json_body, json_expect
from services.runtime.collections import (
    COMMAND_OUTCOMES,
    COMMANDS,
    DELIVERIES,
    DELIVERY_DAYS,
    LIST_PROJECTION,
)
from services.runtime.delivery_days import newest_first
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import (
    COMMAND_MODELS,
    PUBLIC_DELIVERY_COMMANDS,
)
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.processes import GLOBAL_COMMANDS
from shared.domain.roles import Role
from shared.domain.states import State

routes = web.RouteTableDef()
#: The models of the commands a delivery takes over HTTP, in the document's order.
_PUBLIC_COMMAND_MODELS = tuple(COMMAND_MODELS[n] for n in sorted(PUBLIC_DELIVERY_COMMANDS))
_DELIVERY_ID = parameter("delivery_id", "path")

#: Commands only an admin may send (``processes.GLOBAL_COMMANDS``); refused at the door, the
#: rest is the domain's to judge.
ADMIN_ONLY = frozenset(kind for kind, roles in GLOBAL_COMMANDS.items() if roles == {Role.ADMIN})
_state_adapter = TypeAdapter(State)
#: Seconds after which to ask again about a delivery whose open is not applied yet.
PENDING_RETRY_AFTER = 1
#: Bounds of the list's ``limit`` (from 1) and ``skip`` (from 0) query parameters.
DEFAULT_LIMIT, MAX_LIMIT, MAX_SKIP = 50, 500, 10**9


def limit_parameter(description: str = "") -> dict[str, Any]:
    """The OpenAPI ``limit`` query parameter of a list: an integer from 1 to :data:`MAX_LIMIT`,
    read with :func:`int_query`."""
    return parameter(
        "limit",
        "query",
        description,
        required=False,
        schema={"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    )


@routes.get("/v1/deliveries")
@documented(
    "The caller's deliveries (admin and marketplace: all)",
    parameters=(
        parameter(
            "state",
            "query",
            "only deliveries in this state",
            required=False,
            schema=_state_adapter.json_schema(),
        ),
        limit_parameter(),
        parameter(
            "skip",
            "query",
            "",
            required=False,
            schema={"type": "integer", "minimum": 0, "maximum": MAX_SKIP},
        ),
    ),
    responses={
        200: Reply("newest first", DeliveryList),
        400: error("invalid query"),
        **CALLER_ERRORS,
    },
)
async def list_deliveries(request: web.Request) -> web.Response:
    """GET /v1/deliveries, any role: the caller's deliveries (admin and marketplace: all),
    newest opened first, as :class:`DeliveryList` (brief: filter ``?state=``).

    ``limit`` (1..:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`) and ``skip`` (0..
    :data:`MAX_SKIP`, default 0) page the list; 400 ``invalid_query`` for a state that does
    not exist or a number out of range.
    """
    actor = caller(request)
    query: dict[str, Any] = {}
    if actor.role in PARTY_ID_FIELDS:
        query[PARTY_ID_FIELDS[actor.role]] = actor.id
    if "state" in request.query:
        try:
            query["state"] = _state_adapter.validate_python(request.query["state"]).value
        except ValidationError as error:
            known = ", ".join(s.value for s in State)
            raise HttpError(400, "invalid_query", f"state must be one of: {known}") from error
    limit = int_query(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    skip = int_query(request, "skip", default=0, low=0, high=MAX_SKIP)
    db = gateway_of(request).db
    projection = LIST_PROJECTION
    if PARTY_ID_FIELDS[Role.CUSTOMER] in query:
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
    return json_answer(DeliveryList(deliveries=[DeliverySummary.of(d) for d in found]))


def int_query(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    """The whole number in query parameter ``name`` (``default`` when absent); 400
    ``invalid_query`` for anything but 1 to 10 digits from ``low`` to ``high``."""
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


async def _visible_delivery(
    request: web.Request, actor: Any, projection: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The delivery named in the path, if ``actor`` may see it; else 404, or
    ``DeliveryPending`` when its open is accepted and not applied yet.

    Who may see a pending delivery is who may see it once applied (``may_see``), judged on the
    parties its accepted open names: those are the delivery's parties once it is applied.
    """
    delivery_id = request.match_info["delivery_id"]
    db = gateway_of(request).db
    for _ in range(2):
        document = await visible_delivery(
            db, actor, delivery_id, may=may_see, projection=projection
        )
        if document is not None:
            return document
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
    raise HttpError(404, "not_found", f"no delivery {delivery_id} for this caller")


def pending_response(pending: DeliveryPending) -> web.Response:
    """202 ``{delivery_id, order_id, state: null, command_id, status: "accepted"}`` for a
    delivery not applied yet, with ``Location``: its open's status, which whoever may see the
    delivery may read (``command_status.may_read_command``)."""
    headers = {
        "Retry-After": str(PENDING_RETRY_AFTER),
        "Location": command_location(pending.command_id),
    }
    view = PendingDelivery.of(pending.delivery_id, pending.order_id, pending.command_id)
    return json_answer(view, status=202, headers=headers)


@routes.get("/v1/deliveries/{delivery_id}")
@documented(
    "The whole delivery (its customer and ISV, admin, marketplace)",
    parameters=(_DELIVERY_ID,),
    responses={
        200: Reply("the delivery", DeliveryView),
        202: Reply(
            "its open is accepted, not applied yet; ask again",
            PendingDelivery,
            headers={
                **RETRY_AFTER,
                "Location": {
                    **LOCATION["Location"],
                    "description": "the open's status, to its sender and admins",
                },
            },
        ),
        404: error("no such delivery for the caller"),
        **CALLER_ERRORS,
    },
)
async def get_delivery(request: web.Request) -> web.Response:
    """GET /v1/deliveries/{delivery_id}, its customer and ISV, admin, marketplace: the whole
    delivery (:class:`DeliveryView`, the brief's fields), or 202 :class:`PendingDelivery`
    while its open is accepted but not applied; 404 for a delivery the caller may not see."""
    actor = caller(request)
    try:
        document = await _visible_delivery(request, actor)
    except DeliveryPending as pending:
        return pending_response(pending)
    ids = list(document.get("attachments", [])) + (
        [document["contract"]] if document.get("contract") else []
    )
    files = await files_by_id(gateway_of(request).db, ids)
    return json_answer(DeliveryView.of(document, files))


@routes.post("/v1/deliveries/{delivery_id}/commands", expect_handler=json_expect)
@documented(
    "Send a command (its customer and ISV, admin); applied later",
    parameters=(
        _DELIVERY_ID,
        parameter(
            "Idempotency-Key",
            "header",
            "the same key and body give the same command id",
            required=False,
            schema=IDEMPOTENCY_KEY_SCHEMA,
        ),
    ),
    body=Body(models=_PUBLIC_COMMAND_MODELS),
    responses={
        202: Reply(
            "accepted: read its outcome later",
            Accepted,
            headers=LOCATION,
            links=COMMAND_OUTCOME_LINK,
        ),
        404: error("no such delivery for the caller"),
        409: error(
            "delivery_pending: its open is accepted, not applied yet; "
            "nothing was published, send again later",
            headers=RETRY_AFTER,
        ),
        **JSON_BODY_ERRORS,
        400: error(
            "malformed_json: the body is not a JSON object; invalid_idempotency_key: the "
            "Idempotency-Key is sent twice, empty, too long or not printable ASCII"
        ),
        422: error(
            "invalid_input: `fields` names each field at fault; unknown_command: `type` is "
            "none of the commands; idempotency_key_reused: this Idempotency-Key came before "
            "with another body (IETF Idempotency-Key draft)"
        ),
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def send_command(request: web.Request) -> web.Response:
    """POST /v1/deliveries/{delivery_id}/commands, its customer and ISV, admin (brief): a
    command ``{type, ...fields}``, validated with its model and published; 202
    :class:`Accepted` with ``Location`` its status once the broker confirmed.

    422 ``unknown_command`` or ``invalid_input``, 403 for an admin's command sent by another
    role, 404 for a delivery not the caller's, 409 ``delivery_pending``; an ``Idempotency-Key``
    makes a retry the same command (``publishing.command_id_for``).
    """
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
        command = COMMAND_MODELS[kind].model_validate(body, context=address_rule(request))
    except ValidationError as error:
        raise validation_error(error) from error
    if kind in ADMIN_ONLY and actor.role != Role.ADMIN:
        raise HttpError(403, "forbidden", f"only an admin may {kind}")
    document = await _visible_delivery(request, actor, PARTIES_ONLY)
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
    return accepted_response(Accepted(command_id=command_id, status="accepted"), command_id)
