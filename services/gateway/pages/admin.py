"""The administrators' list of deliveries (GET /admin) and what marks one overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from services.gateway.context import Gateway, gateway_of
from services.gateway.contracts import documented
from services.gateway.pages.csrf import csrf_token
from services.gateway.pages.errors import html_errors, render
from services.gateway.pages.guard import (
    LINK_REFUSALS,
    LINK_TOKEN,
    html_answer,
    link_of,
    optional_query,
)
from services.gateway.pages.languages import admin_reader, reading_page
from services.gateway.pages.routing import routes
from services.gateway.pages.view import FormState, outcome_of
from services.gateway.pages.words import action_view, available_actions, dispute_open
from services.runtime.collections import DELIVERIES, DELIVERY_DAYS, LIST_PROJECTION
from services.runtime.delivery_days import newest_first
from services.runtime.links import Link, page_path, scorecard_path, scorecards_path
from shared.domain.delivery import past_due
from shared.domain.processes import moves_on_by_itself
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, State
from shared.wording import STATE_LABELS, duration, label, relative, when_relative
from shared.wording.reader import _

#: Deliveries the admin list shows at most.
ADMIN_LIST_LIMIT = 500


def overdue(document: dict[str, Any], now: datetime, patience: timedelta) -> str | None:
    """Why an admin should look at this delivery now, or None.

    Overdue: a deadline is past due and has not fired; or nothing happened for longer than the
    confirmation window (``patience``) while it waits on a person. A delivery that a running
    deadline not yet due will move on by itself (the confirmation window, the warranty:
    ``processes.moves_on_by_itself``) waits on the clock, not on a person, so idleness does not
    make it overdue. An open dispute waits on an administrator: its deadlines are paused, and
    it is overdue once it has waited longer than ``patience``.
    """
    if document["state"] in TERMINAL_STATES:
        return None
    for deadline in document.get("deadlines", []):
        if past_due(deadline, now):
            return _("a deadline was due {when} and has not fired").format(
                when=relative(deadline["due_at"], now)
            )
    idle = now - document["updated_at"]
    if idle <= patience:
        return None
    if dispute_open(document):
        return _("the dispute has waited for {span}").format(span=duration(idle))
    if any(
        deadline.get("status") == "active"
        and deadline.get("due_at") is not None
        and moves_on_by_itself(document["process"], document["state"], deadline["kind"])
        for deadline in document.get("deadlines", [])
    ):
        return None  # not yet due (past due is above): the clock moves it on
    return _("nothing has happened for {span}").format(span=duration(idle))


async def recently_updated(
    gateway: Gateway, query: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` deliveries matching ``query`` (``{}`` or ``{"state": ...}``), the most
    recently changed first."""
    found: list[dict[str, Any]] = []
    async for document in newest_first(
        gateway.db[DELIVERIES],
        gateway.db[DELIVERY_DAYS],
        sort_field="updated_at",
        projection=LIST_PROJECTION,
        where=query,
    ):
        found.append(document)
        if len(found) >= limit:
            break
    return found


@routes.get("/admin")
@documented(
    "The administrators' list of deliveries (an admin link)",
    public=True,
    parameters=(
        LINK_TOKEN,
        optional_query("state", "only deliveries in this state"),
        optional_query("overdue", "1: only overdue deliveries"),
        optional_query("command", "a command sent from the list: its outcome"),
    ),
    responses={200: html_answer("the list"), **LINK_REFUSALS},
)
@html_errors
async def admin_page(request: web.Request) -> web.Response:
    """GET /admin?t=, an admin's link only: the deliveries most recently updated (at most
    ``ADMIN_LIST_LIMIT``), open disputes first, then overdue ones, each with its actions.

    ``?state=`` keeps one state (an unknown one shows every state, with a notice),
    ``?overdue=1`` only overdue deliveries, ``?command=`` that command's outcome at the top.
    Refusals are pages: 403 for a link that is not an admin's, 429 over the limit.
    """
    token = request.query.get("t", "")
    link = link_of(request, token, None)
    gateway = gateway_of(request)
    with reading_page(*admin_reader(request, gateway.settings)):
        return await _admin_list(request, gateway, link, token)


async def _admin_list(
    request: web.Request, gateway: Gateway, link: Link, token: str
) -> web.Response:
    """The admin list's page (:func:`admin_page`), read in the current reader's language."""
    now = datetime.now(UTC)
    query: dict[str, Any] = {}
    state = request.query.get("state", "")
    notice = None
    if state:
        if state in {s.value for s in State}:
            query["state"] = state
        else:
            notice = _("There is no state “{state}”; showing every state.").format(state=state)
            state = ""
    only_overdue = request.query.get("overdue") in ("1", "on", "yes", "true")
    rows = []
    patience = gateway.settings.confirm_window
    for document in await recently_updated(gateway, query, ADMIN_LIST_LIMIT):
        late = overdue(document, now, patience)
        if only_overdue and late is None:
            continue
        updated = document["updated_at"]
        rows.append(
            {
                "id": document["_id"],
                "order_id": document["order_id"],
                "process": document["process"],
                "state": document["state"],
                "state_label": label(STATE_LABELS, document["state"]),
                "customer": document["customer_id"],
                "isv": document["isv_id"],
                "isv_href": scorecard_path(document["isv_id"], token),
                "dispute": dispute_open(document),
                "dispute_reason": (document.get("dispute") or {}).get("reason"),
                "overdue": late,
                "updated": when_relative(updated, now),
                "href": page_path(document["_id"], token),
                "actions": [action_view(a) for a in available_actions(document, Role.ADMIN)],
                "csrf": csrf_token(gateway.settings, token, document["_id"]),
                "sort": (not dispute_open(document), late is None, -updated.timestamp()),
            }
        )
    rows.sort(key=lambda row: row["sort"])
    # The command's own delivery: ``outcome_of`` reads it with the command, once.
    outcome = await outcome_of(gateway, link, None, request.query.get("command"), now)
    return render(
        "admin.html",
        title=_("Deliveries"),
        rows=rows,
        states=[s.value for s in State],
        state_labels=STATE_LABELS,
        state=state,
        only_overdue=only_overdue,
        notice=notice,
        token=token,
        outcome=outcome,
        refresh=outcome is not None and outcome["status"] == "pending" and not outcome["late"],
        limit=ADMIN_LIST_LIMIT,
        empty_form=FormState(action=""),
        scorecards_href=scorecards_path(token),
    )
