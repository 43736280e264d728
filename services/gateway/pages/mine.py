"""A party's own list of deliveries (GET /me?t=, opened by the list link every email carries):
what waits for the reader first, each with what to do and by when, then what waits for someone
else (who, until when), then what is finished; a filter by state and process, a search by
order ID or product ID, and pages.

How it reads (``services.runtime.party_lists``): what waits for the reader is one indexed
equality, read whole, since the counts at the top and its order need all of it; the rest is
walked newest change first, a window of days at a time, for the rows a page shows and one
more. A page thus reads what waits for the reader and about one page of the rest, however many
deliveries the reader or anyone else has. Filters apply to the rows read: a narrow one over a
long history stops after :data:`WALK_BUDGET` documents and the page says how far it looked.
An order ID is looked up directly (a delivery's id derives from its order's).

This module reads a page and answers the request (with an ISV's scorecard section); the query
(filters, page positions) is ``mine_query``'s, the rows (order, counts, words) ``mine_rows``'.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from markupsafe import Markup

from services.gateway.context import Gateway, gateway_of
from services.gateway.contracts import documented
from services.gateway.pages.errors import html_errors, render
from services.gateway.pages.guard import (
    LINK_REFUSALS,
    LINK_TOKEN,
    html_answer,
    list_link_of,
    optional_query,
)
from services.gateway.pages.languages import list_reader, reading_page
from services.gateway.pages.mine_query import Cursor, Filters, empty_words, read_query
from services.gateway.pages.mine_rows import count_overdue, order_waiting, row_view
from services.gateway.pages.routing import routes
from services.gateway.pages.scorecard import isv_scorecard, render_scorecard
from services.runtime.collections import DELIVERIES, DELIVERY_DAYS, LIST_PROJECTION
from services.runtime.list_links import ME_PATH, ListLink, me_path
from services.runtime.party_lists import (
    LIST_FIELD,
    WALKED_GROUPS,
    YOURS,
    DayCalendar,
    list_group,
    list_key,
    walk,
)
from shared.domain.actions import Situation
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.ids import delivery_id_for
from shared.domain.roles import Role
from shared.domain.states import ProcessName, State
from shared.wording import PROCESS_LABELS, ROLE_NAMES, STATE_LABELS
from shared.wording.lists import (
    GROUP_TITLES,
    LIST_TITLE,
    SEARCH_HINT,
    SEARCH_STOPPED,
    counts_words,
)
from shared.wording.reader import reader

#: Rows a page shows.
PAGE_SIZE = 30
#: Documents a page's walk may look at besides what waits for the reader: a filter that
#: matches few stops there and the page says how far it looked (each document costs about
#: half a millisecond on the local FerretDB).
WALK_BUDGET = 80
#: The days each database's walks go through, per gateway process.
_CALENDARS: dict[tuple[int, str], DayCalendar] = {}


@dataclass
class ListPage:
    """One page of a party's list: every delivery waiting for them (``waiting``: the counts),
    the rows shown as (group, document), where the next page starts, and how far a search
    looked when it stopped early (``stopped_at``, a day)."""

    waiting: list[Mapping[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    next: Cursor | None = None
    stopped_at: str | None = None
    #: Queries and documents read, for the benchmark and the tests.
    queries: int = 0
    examined: int = 0


def _calendar(db: Any) -> DayCalendar:
    key = (id(db.client), db.name)
    if key not in _CALENDARS:
        _CALENDARS[key] = DayCalendar()
    return _CALENDARS[key]


async def read_page(
    gateway: Gateway,
    link: ListLink,
    filters: Filters,
    cursor: Cursor | None,
    now: datetime,
    *,
    size: int = PAGE_SIZE,
    budget: int = WALK_BUDGET,
) -> ListPage:
    """One page of ``link``'s party's deliveries (see the module's docstring for the reads).

    Parameters:
      gateway(Gateway): Its database and settings (``confirm_window``: overdue).
      link(ListLink): Whose list, as which role.
      filters(Filters): The page's filters.
      cursor(Cursor | None): Where the page starts; None: the first page.
      now(datetime): Aware UTC.
      size(int): Rows per page.
      budget(int): Documents the walk may look at.

    Returns:
      ListPage: The counts' deliveries, the rows, the next page's cursor.
    """
    db = gateway.db
    deliveries = db[DELIVERIES]
    role, party = link.role, link.party_id
    patience = gateway.settings.confirm_window
    page = ListPage()
    waiting = await deliveries.find(
        {LIST_FIELD[role]: list_key(party, YOURS)}, LIST_PROJECTION
    ).to_list()
    page.queries, page.examined = 1, len(waiting)
    page.waiting = order_waiting(waiting, now, patience)

    if filters.search and cursor is None:
        # An order ID is one lookup, whatever its age: its delivery's id derives from it.
        hit = await deliveries.find_one({"_id": delivery_id_for(filters.search)}, LIST_PROJECTION)
        page.queries += 1
        if (
            hit is not None
            and hit.get(PARTY_ID_FIELDS[role]) == party
            and hit["order_id"] == filters.search
        ):
            if filters.keep(hit):
                group = list_group(Situation.of_document(hit), role)
                page.rows = [(group, hit)]
            return page

    listed = [d for d in page.waiting if filters.keep(d)]
    walked_groups = filters.walked_groups()
    if cursor is None or cursor.group == YOURS:
        offset = cursor.offset if cursor else 0
        page.rows = [(YOURS, d) for d in listed[offset : offset + size]]
        if offset + size < len(listed):
            page.next = Cursor(YOURS, offset=offset + size)
            return page
        groups, after = walked_groups, None
    else:
        order = WALKED_GROUPS.index(cursor.group)
        groups = tuple(g for g in walked_groups if WALKED_GROUPS.index(g) >= order)
        after = cursor.after if groups and groups[0] == cursor.group else None
    room = size - len(page.rows)
    if not groups:
        return page
    days = await _calendar(db).days(db[DELIVERY_DAYS], now.astimezone(UTC).date())
    # A page full of what waits for the reader still looks one row ahead: "Next page" only
    # when something follows.
    walked = await walk(
        deliveries,
        days,
        role,
        party,
        groups=groups,
        after=after,
        room=max(room, 1),
        budget=budget,
        keep=filters.keep,
        projection=LIST_PROJECTION,
        now=now,
    )
    page.queries += walked.queries
    page.examined += walked.examined
    page.stopped_at = walked.stopped_at
    if room == 0 and walked.rows:
        # The first row of the walked groups, not shown: the next page starts its group.
        page.next = Cursor(walked.rows[0][0])
        page.stopped_at = None
        return page
    page.rows += walked.rows
    if walked.resume is not None:
        group, position = walked.resume
        page.next = Cursor(group, after=position)
    return page


#: ISVs whose scorecard section a gateway keeps between requests (``Gateway.isv_sections``).
RECENT_SECTIONS = 1000


async def scorecard_section(gateway: Gateway, link: ListLink) -> Markup:
    """The scorecard shown on an ISV's list, under the counts: the ISV's scorecard section
    (``scorecard.render_scorecard``) of the default period, with its trend and the
    marketplace's medians; its HTML, already escaped, as ``scorecard_html`` in ``me.html``.

    A section read less than ``DC_SCORECARD_REFRESH`` ago (the table's own refresh, 5 minutes
    by default) is shown again, as of when it was read (it says so): reading and computing the
    big ISV's 3,000 deliveries costs about 70 ms, which the list's 100 ms cannot carry on every
    page. The API and the admin's page of one ISV always compute afresh.

    A section is kept per ISV and reader (locale and time zone): its words and times are the
    reader's."""
    now = time.monotonic()
    current = reader()
    key = f"{link.party_id}\n{current.locale}\n{current.time_zone}"
    kept = gateway.isv_sections.get(key)
    if kept is not None and now - kept[0] < gateway.settings.scorecard_refresh.total_seconds():
        gateway.isv_sections.move_to_end(key)
        return Markup(kept[1])
    html = render_scorecard(await isv_scorecard(gateway, link.party_id, datetime.now(UTC)))
    if current.catalog is None:  # a test's own catalog is not kept
        gateway.isv_sections[key] = (now, str(html))
        gateway.isv_sections.move_to_end(key)
    while len(gateway.isv_sections) > RECENT_SECTIONS:
        gateway.isv_sections.popitem(last=False)
    return html


@routes.get(ME_PATH)
@documented(
    "A party's own list of deliveries (a list link from an email)",
    public=True,
    parameters=(
        LINK_TOKEN,
        optional_query("state", "only deliveries in this state"),
        optional_query("process", "only deliveries of this process"),
        optional_query("q", "an order ID or a product ID"),
        optional_query("after", "where the page starts: its previous page's 'next' link"),
    ),
    responses={
        200: html_answer("the list"),
        400: html_answer("a filter, search or page position that is not valid, or given twice"),
        **LINK_REFUSALS,
    },
)
@html_errors
async def my_deliveries(request: web.Request) -> web.Response:
    """GET /me?t=, a list link (customer or ISV): the party's deliveries, those waiting for
    them first (with the counts: how many, how many overdue), then those waiting for others,
    then the finished ones; ``state``, ``process``, ``q`` (an order ID or a product ID) filter,
    ``after`` pages. Changes nothing. Refusals are pages: 403 for a link that is not a valid
    list link (a delivery page's link included), 400 for a bad filter or page position, 429
    over the party's rate."""
    token = request.query.get("t", "")
    link = list_link_of(request, token)
    filters, cursor = read_query(request)
    gateway = gateway_of(request)
    now = datetime.now(UTC)
    page = await read_page(gateway, link, filters, cursor, now)
    shown = [document for _, document in page.rows] + page.waiting
    # The party reads its list as it reads its deliveries' pages: the reader is known once
    # they are read, so the ISV's scorecard section follows (it is kept a while per reader).
    with reading_page(*list_reader(request, gateway.settings, link.role, shown)):
        scorecard_html = (
            await scorecard_section(gateway, link) if link.role == Role.ISV else Markup("")
        )
        return _list_page(page, link, gateway, now, token, filters, cursor, scorecard_html)


def _list_page(
    page: ListPage,
    link: ListLink,
    gateway: Gateway,
    now: datetime,
    token: str,
    filters: Filters,
    cursor: Cursor | None,
    scorecard_html: Markup,
) -> web.Response:
    """The list's page, in the current reader's words."""
    patience = gateway.settings.confirm_window
    sections: list[dict[str, Any]] = []
    for group, document in page.rows:
        if not sections or sections[-1]["group"] != group:
            sections.append({"group": group, "title": GROUP_TITLES[group], "rows": []})
        sections[-1]["rows"].append(row_view(group, document, link, gateway, now))
    query = filters.query()
    return render(
        "me.html",
        title=LIST_TITLE,
        viewer={"label": ROLE_NAMES[link.role], "party": link.party_id},
        counts=counts_words(len(page.waiting), count_overdue(page.waiting, now, patience)),
        scorecard_html=scorecard_html,
        sections=sections,
        empty=empty_words(filters, cursor),
        token=token,
        filters=filters,
        states=[(s.value, STATE_LABELS[s]) for s in State],
        processes=[(p.value, PROCESS_LABELS[p]) for p in ProcessName],
        search_hint=SEARCH_HINT,
        stopped=SEARCH_STOPPED.format(day=page.stopped_at) if page.stopped_at else None,
        first_href=me_path(token, **query) if cursor is not None else None,
        next_href=me_path(token, **query, after=page.next.text()) if page.next else None,
        clear_href=me_path(token) if filters.active else None,
    )
