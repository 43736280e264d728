"""The admin's webhook endpoints (``/v1/webhooks``): register one (its URL checked against the
address rule, ``shared.domain.webhook_addresses``), list, read, enable or disable, delete,
rotate its secret, read its delivery log, and replay events to it. The notifier delivers the
events (``shared.contracts.webhooks``); this module writes ``WEBHOOK_ENDPOINTS`` and reads
``WEBHOOK_DELIVERIES``, which only a replay writes (``webhook_replay``).
"""

from __future__ import annotations

import base64
import heapq
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pymongo import ReturnDocument

from services.gateway.context import caller, gateway_of
from services.gateway.contracts import (
    CALLER_ERRORS,
    JSON_BODY_ERRORS,
    WEBHOOK_LINKS,
    Body,
    Reply,
    documented,
    error,
    framing_errors,
    parameter,
)
from services.gateway.deliveries import DEFAULT_LIMIT, MAX_LIMIT, int_query, limit_parameter
from services.gateway.errors import HttpError, validation_error
from services.gateway.models import json_answer
from services.gateway.requests import json_body, json_expect
from services.gateway.webhook_hosts import check_address
from services.gateway.webhook_models import (
    DeliveryLog,
    DeliveryLogEntry,
    NewWebhook,
    NewWebhookAnswer,
    ReplayAnswer,
    RotatedSecret,
    WebhookChange,
    WebhookList,
    WebhookView,
)
from services.gateway.webhook_replay import MAX_REPLAY, replay, since_query
from services.runtime.collections import WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS
from shared.contracts.webhooks import SECRET_BYTES, SECRET_PREFIX, WebhookEndpoint
from shared.domain.roles import Role

routes = web.RouteTableDef()
_WEBHOOK_ID = parameter("webhook_id", "path")
#: How long a rotated-out secret still signs deliveries (the notifier signs with both).
PREVIOUS_SECRET_LASTS = timedelta(hours=24)
#: What an answer without a secret reads of a stored endpoint.
NO_SECRETS = {"secret": 0, "previous_secret": 0}
_LOCATION = {
    "Location": {
        "description": "the endpoint: /v1/webhooks/{webhook_id}",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
_MISSING = error("no such webhook endpoint")


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def now_stored() -> datetime:
    """Now in UTC to the millisecond, as the database keeps a time: an answer shows the time
    that a later read shows too."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _webhook_id(request: web.Request) -> str:
    return request.match_info["webhook_id"]


def _not_found(webhook_id: str) -> HttpError:
    return HttpError(404, "not_found", f"no webhook endpoint {webhook_id}")


async def _endpoint(request: web.Request, projection: Mapping[str, int] | None) -> dict[str, Any]:
    """The endpoint named in the path, or 404."""
    webhook_id = _webhook_id(request)
    endpoints = gateway_of(request).db[WEBHOOK_ENDPOINTS]
    found = await endpoints.find_one({"_id": webhook_id}, projection)
    if found is None:
        raise _not_found(webhook_id)
    return found


@routes.post("/v1/webhooks", expect_handler=json_expect)
@documented(
    "Register a webhook endpoint (admin); its secret is shown once",
    body=Body(models=(NewWebhook,)),
    responses={
        201: Reply(
            "registered",
            NewWebhookAnswer,
            headers=_LOCATION,
            links=WEBHOOK_LINKS,
        ),
        **JSON_BODY_ERRORS,
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def create_webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks, admin: :class:`NewWebhook` ``{url, event_types, description?}``;
    201 :class:`NewWebhookAnswer` with its secret (shown this once) and ``Location``.

    422 ``invalid_input`` naming ``url`` for a URL that is not http(s), carries credentials,
    or whose host does not resolve or resolves to an address the installation refuses
    (``DC_WEBHOOK_ALLOWED_ADDRESSES``), and naming ``event_types`` for none or an unknown one.
    """
    caller(request, Role.ADMIN)
    body = await json_body(request)
    try:
        wanted = NewWebhook.model_validate(body)
    except ValidationError as failure:
        raise validation_error(failure) from failure
    gateway = gateway_of(request)
    await check_address(wanted.url, gateway.settings.webhook_allowed_addresses)
    endpoint = WebhookEndpoint(
        webhook_id=uuid.uuid4().hex,
        url=wanted.url,
        event_types=wanted.event_types,
        description=wanted.description,
        secret=new_secret(),
        created_at=now_stored(),
    )
    await gateway.db[WEBHOOK_ENDPOINTS].insert_one(
        {"_id": endpoint.webhook_id, **endpoint.model_dump(mode="python")}
    )
    answer = NewWebhookAnswer(
        **endpoint.model_dump(
            include={"webhook_id", "url", "event_types", "description", "enabled", "created_at"}
        ),
        secret=endpoint.secret,
    )
    location = f"/v1/webhooks/{endpoint.webhook_id}"
    return json_answer(answer, status=201, headers={"Location": location})


@routes.get("/v1/webhooks")
@documented(
    "The webhook endpoints, without their secrets (admin)",
    responses={200: Reply("oldest first", WebhookList), **CALLER_ERRORS},
)
async def list_webhooks(request: web.Request) -> web.Response:
    """GET /v1/webhooks, admin: every endpoint (:class:`WebhookView`, no secret), oldest
    first. Endpoints are few: all are read and sorted here."""
    caller(request, Role.ADMIN)
    found = await gateway_of(request).db[WEBHOOK_ENDPOINTS].find({}, NO_SECRETS).to_list()
    found.sort(key=lambda d: (d["created_at"], d["_id"]))
    return json_answer(WebhookList(webhooks=[WebhookView.of(d) for d in found]))


@routes.get("/v1/webhooks/{webhook_id}")
@documented(
    "One webhook endpoint, without its secret (admin)",
    parameters=(_WEBHOOK_ID,),
    responses={200: Reply("the endpoint", WebhookView), 404: _MISSING, **CALLER_ERRORS},
)
async def get_webhook(request: web.Request) -> web.Response:
    """GET /v1/webhooks/{webhook_id}, admin: :class:`WebhookView`, or 404 ``not_found``."""
    caller(request, Role.ADMIN)
    return json_answer(WebhookView.of(await _endpoint(request, NO_SECRETS)))


@routes.patch("/v1/webhooks/{webhook_id}", expect_handler=json_expect)
@documented(
    "Enable or disable a webhook endpoint (admin)",
    parameters=(_WEBHOOK_ID,),
    body=Body(models=(WebhookChange,)),
    responses={
        200: Reply("the endpoint as it is now", WebhookView),
        404: _MISSING,
        **JSON_BODY_ERRORS,
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def change_webhook(request: web.Request) -> web.Response:
    """PATCH /v1/webhooks/{webhook_id}, admin: ``{enabled}``; 200 :class:`WebhookView`.

    Disabling records when and by whom (an endpoint already disabled keeps its record, e.g.
    the notifier's reason); enabling clears ``disabled_at`` and ``disabled_reason``.
    """
    actor = caller(request, Role.ADMIN)
    body = await json_body(request)
    try:
        change = WebhookChange.model_validate(body)
    except ValidationError as failure:
        raise validation_error(failure) from failure
    webhook_id = _webhook_id(request)
    endpoints = gateway_of(request).db[WEBHOOK_ENDPOINTS]
    if change.enabled:
        where: dict[str, Any] = {"_id": webhook_id}
        update: dict[str, Any] = {
            "$set": {"enabled": True},
            "$unset": {"disabled_at": "", "disabled_reason": ""},
        }
    else:
        where = {"_id": webhook_id, "enabled": True}
        update = {
            "$set": {
                "enabled": False,
                "disabled_at": now_stored(),
                "disabled_reason": f"disabled by admin {actor.id}",
            }
        }
    # No projection: FerretDB's findAndModify takes none; the view leaves the secrets out.
    found = await endpoints.find_one_and_update(where, update, return_document=ReturnDocument.AFTER)
    if found is None:
        # Not there, or already disabled: then it stays as it was.
        found = await _endpoint(request, NO_SECRETS)
    return json_answer(WebhookView.of(found))


@routes.delete("/v1/webhooks/{webhook_id}")
@documented(
    "Delete a webhook endpoint and its delivery log (admin)",
    parameters=(_WEBHOOK_ID,),
    responses={204: Reply("deleted"), 404: _MISSING, **CALLER_ERRORS},
)
async def delete_webhook(request: web.Request) -> web.Response:
    """DELETE /v1/webhooks/{webhook_id}, admin: 204, or 404 ``not_found``. Its deliveries
    go too: the notifier sends nothing more to it."""
    caller(request, Role.ADMIN)
    webhook_id = _webhook_id(request)
    db = gateway_of(request).db
    deleted = await db[WEBHOOK_ENDPOINTS].delete_one({"_id": webhook_id})
    if deleted.deleted_count == 0:
        raise _not_found(webhook_id)
    await db[WEBHOOK_DELIVERIES].delete_many({"webhook_id": webhook_id})
    return web.Response(status=204)


@routes.post("/v1/webhooks/{webhook_id}/rotate-secret", expect_handler=json_expect)
@documented(
    "Rotate a webhook endpoint's secret (admin); the new one is shown once",
    parameters=(_WEBHOOK_ID,),
    responses={
        200: Reply(
            "the new secret; the previous one signs for a day more, or, while an earlier "
            "rotation's previous secret is still in its day, that one until its end",
            RotatedSecret,
        ),
        404: _MISSING,
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def rotate_secret(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{webhook_id}/rotate-secret, admin (no body read): 200
    :class:`RotatedSecret`. The old secret becomes ``previous_secret`` until
    :data:`PREVIOUS_SECRET_LASTS` from now, and the notifier signs with both until then.

    But while the previous secret of an earlier rotation is still in its window, a rotation
    keeps that one and its ``previous_secret_until`` (receivers most likely still use it) and
    replaces only the current secret: the secret in between stops signing at once, and the
    answer's ``previous_secret_until`` is the kept one's."""
    caller(request, Role.ADMIN)
    webhook_id = _webhook_id(request)
    endpoints = gateway_of(request).db[WEBHOOK_ENDPOINTS]
    while True:
        current = await _endpoint(request, {"secret": 1, "previous_secret_until": 1})
        secret, now = new_secret(), now_stored()
        until = current.get("previous_secret_until")
        change = {"secret": secret}
        if until is None or until <= now:
            until = now + PREVIOUS_SECRET_LASTS
            change |= {"previous_secret": current["secret"], "previous_secret_until": until}
        # Only over the secret read: a rotation in between is not lost, this one reads again.
        done = await endpoints.update_one(
            {"_id": webhook_id, "secret": current["secret"]}, {"$set": change}
        )
        if done.matched_count:
            break
    answer = RotatedSecret(webhook_id=webhook_id, secret=secret, previous_secret_until=until)
    return json_answer(answer)


@routes.get("/v1/webhooks/{webhook_id}/deliveries")
@documented(
    "A webhook endpoint's delivery log: attempts, status, latency (admin)",
    parameters=(
        _WEBHOOK_ID,
        limit_parameter(),
    ),
    responses={
        200: Reply("newest first", DeliveryLog),
        400: error("invalid query"),
        404: _MISSING,
        **CALLER_ERRORS,
    },
)
async def delivery_log(request: web.Request) -> web.Response:
    """GET /v1/webhooks/{webhook_id}/deliveries, admin: the endpoint's newest ``limit``
    (1..:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`) deliveries with their attempts
    (:class:`DeliveryLog`); 400 ``invalid_query`` for another limit, 404 ``not_found``.

    Read through the ``webhook_id`` index and ordered here (the patched FerretDB never sorts
    through an index), keeping only the newest ``limit`` in memory.
    """
    caller(request, Role.ADMIN)
    limit = int_query(request, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    await _endpoint(request, {"_id": 1})
    deliveries = gateway_of(request).db[WEBHOOK_DELIVERIES]
    cursor = deliveries.find({"webhook_id": _webhook_id(request)}, {"body": 0})
    newest: list[tuple[datetime, str, dict[str, Any]]] = []
    async for document in cursor:
        item = (document["created_at"], document["_id"], document)
        if len(newest) < limit:
            heapq.heappush(newest, item)
        elif item[:2] > newest[0][:2]:
            heapq.heapreplace(newest, item)
    ordered = sorted(newest, key=lambda i: i[:2], reverse=True)
    return json_answer(DeliveryLog(deliveries=[DeliveryLogEntry.of(d) for *_, d in ordered]))


@routes.post("/v1/webhooks/{webhook_id}/replay", expect_handler=json_expect)
@documented(
    "Send again the events recorded since a time to a webhook endpoint (admin)",
    parameters=(
        _WEBHOOK_ID,
        parameter(
            "since",
            "query",
            "an RFC 3339 date-time with an offset: events recorded at or after it are sent "
            f"again (at most {MAX_REPLAY} walked per call; see next_since)",
            schema={"type": "string", "format": "date-time"},
        ),
    ),
    responses={
        202: Reply(
            "queued: the notifier sends them shortly",
            ReplayAnswer,
            headers={
                "Location": {
                    "description": "where their progress is read: the endpoint's delivery log, "
                    "/v1/webhooks/{webhook_id}/deliveries",
                    "schema": {"type": "string", "format": "uri-reference"},
                }
            },
        ),
        400: error("invalid query: since missing or not an RFC 3339 date-time with an offset"),
        404: _MISSING,
        409: error("webhook_disabled: the endpoint is disabled; enable it first"),
        **framing_errors(),
        **CALLER_ERRORS,
    },
)
async def replay_webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{webhook_id}/replay?since=, admin (no body read): queue again every
    event of the stream of record recorded at or after ``since`` whose type the endpoint
    receives (``webhook_replay.replay``); 202 :class:`ReplayAnswer`.

    400 ``invalid_query`` for a missing or invalid ``since``, 404 ``not_found``, 409
    ``webhook_disabled`` for a disabled endpoint (enable it with PATCH first). Events are
    resent with their ``webhook-id``, so a receiver deduplicates them as any retry.
    """
    caller(request, Role.ADMIN)
    since = since_query(request.query.get("since"))
    endpoint = await _endpoint(request, {"event_types": 1, "enabled": 1})
    webhook_id = _webhook_id(request)
    if not endpoint.get("enabled", True):
        raise HttpError(
            409,
            "webhook_disabled",
            f'webhook endpoint {webhook_id} is disabled: enable it (PATCH {{"enabled": true}}) '
            "before replaying to it",
        )
    done = await replay(
        gateway_of(request).db, webhook_id, set(endpoint["event_types"]), since, now_stored()
    )
    more = {"next_since": done.next_since} if done.next_since is not None else {}
    return json_answer(
        ReplayAnswer(webhook_id=webhook_id, queued=done.queued, **more),
        status=202,
        headers={"Location": f"/v1/webhooks/{webhook_id}/deliveries"},
    )
