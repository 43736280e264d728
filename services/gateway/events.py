"""The stream of record over HTTP (``GET /v1/events``): every public event, in the order it
was recorded, paged with an opaque cursor, for a system that was down or missed messages on
``dc.events``. The events are read from ``services.runtime.event_log``; each is the same JSON
object as the message published on ``dc.events``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.context import caller, gateway_of
from services.gateway.contracts import CALLER_ERRORS, Reply, documented, error, parameter
from services.gateway.deliveries import MAX_LIMIT, int_query, limit_parameter
from services.gateway.errors import HttpError
from services.gateway.models import json_answer
from services.runtime.event_log import CursorError, EventLog, decode_cursor, encode_cursor
from shared.domain.roles import Role

routes = web.RouteTableDef()
#: Events per page unless ``limit`` says otherwise (at most ``deliveries.MAX_LIMIT``).
DEFAULT_EVENTS = 100


class EventPage(BaseModel):
    """GET /v1/events: the events recorded after the cursor, oldest first, and the cursor to
    ask from next."""

    model_config = ConfigDict(extra="allow")

    events: list[dict[str, Any]] = Field(
        description="each event as published on dc.events (event_id, event_type, delivery_id, "
        "order_id, process, from_state, to_state, version, occurred_at, actor, command_id and "
        "its own fields); empty when nothing newer is recorded yet"
    )
    next: str | None = Field(
        description="the cursor after the last event returned (the one given when none is "
        "new); pass it as after until events comes back empty. Null only for an empty log "
        "asked without after"
    )


@routes.get("/v1/events")
@documented(
    "The stream of record: every public event in recorded order (admin, marketplace)",
    parameters=(
        parameter(
            "after",
            "query",
            "a cursor from an earlier page's next; without it, from the first event",
            required=False,
        ),
        limit_parameter(f"events per page, {DEFAULT_EVENTS} unless given"),
    ),
    responses={
        200: Reply("oldest first", EventPage),
        400: error("invalid query: a cursor this API did not give, or a limit out of range"),
        **CALLER_ERRORS,
    },
)
async def list_events(request: web.Request) -> web.Response:
    """GET /v1/events, admin and marketplace: up to ``limit`` (1..``MAX_LIMIT``, default
    :data:`DEFAULT_EVENTS`) events recorded after the cursor ``after`` as :class:`EventPage`.

    A client loops with ``after=next`` until ``events`` is empty, and later goes on from the
    last ``next``. An event becomes visible about two seconds after it is recorded
    (``event_log.SETTLE``), so a page never skips one still being written. 400
    ``invalid_query`` for a cursor this API did not make, or another limit.
    """
    caller(request, Role.ADMIN, Role.MARKETPLACE)
    limit = int_query(request, "limit", default=DEFAULT_EVENTS, low=1, high=MAX_LIMIT)
    raw = request.query.get("after")
    after = None
    if raw is not None:
        try:
            after = decode_cursor(raw)
        except CursorError as failure:
            raise HttpError(
                400, "invalid_query", "after must be a cursor from an earlier page's next"
            ) from failure
    found, position = await EventLog(gateway_of(request).db).read(after, limit, datetime.now(UTC))
    next_cursor = encode_cursor(*position) if position is not None else None
    if raw is not None and not found:
        # Nothing new: hand back the very cursor given.
        next_cursor = raw
    page = EventPage(events=[json.loads(row["body"]) for row in found], next=next_cursor)
    return json_answer(page)
