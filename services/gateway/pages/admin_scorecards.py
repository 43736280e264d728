"""The administrators' scorecards: the table of every ISV (GET /admin/scorecards), sortable
with plain links, and one ISV's scorecard (GET /admin/scorecards/{isv_id}).

The table is the one the timers service refreshes every ``DC_SCORECARD_REFRESH``
(``ScorecardBook.latest_table``): one read, whatever the number of deliveries; the page says
when it was computed, and before the first refresh that it has not been. One ISV's page reads
that ISV's facts (``scorecard.isv_scorecard``) for any period (``?from=&to=``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from aiohttp import web

from services.gateway.context import gateway_of
from services.gateway.contracts import documented, parameter
from services.gateway.pages.errors import PageError, html_errors, render
from services.gateway.pages.guard import LINK_REFUSALS, LINK_TOKEN, html_answer, link_of
from services.gateway.pages.languages import admin_reader, reading_page
from services.gateway.pages.routing import routes
from services.gateway.pages.scorecard import isv_scorecard, render_scorecard
from services.gateway.scorecards import PERIOD_PARAMETERS, query_period
from services.runtime.links import admin_path, scorecard_path, scorecards_path
from services.runtime.scorecards import ScorecardBook
from shared.domain.roles import ACTOR_ID_RULE
from shared.domain.score_periods import MAX_PERIOD_DAYS, isv_id_refusal
from shared.wording import (
    counted,
    duration,
    period_and_length_words,
    score_words,
    sentence_start,
    share_words,
    trend_words,
    when_relative,
)
from shared.wording.reader import _, lazy_gettext

#: Rows the table shows at most (after sorting).
TABLE_LIMIT = 1000


class Column(NamedTuple):
    """A sortable column of the table: its heading, what it sorts by (None sorts last in
    either order) and the order its first click asks for."""

    heading: Any  # a lazy msgid: the heading in the reader's language when shown
    key: Callable[[Mapping[str, Any]], Any]
    first_order: str = "desc"


def _difference(row: Mapping[str, Any]) -> float | None:
    return trend_words(row.get("score"), row.get("previous_score")).difference


#: The sortable columns by their ``?sort=`` name, in the table's order.
COLUMNS: Mapping[str, Column] = {
    "isv": Column(lazy_gettext("ISV"), lambda row: row["isv_id"], "asc"),
    "score": Column(lazy_gettext("Score"), lambda row: row.get("score")),
    "previous": Column(lazy_gettext("Previous"), lambda row: row.get("previous_score")),
    "trend": Column(lazy_gettext("Trend"), _difference),
    "opened": Column(lazy_gettext("Opened"), lambda row: row.get("opened")),
    "completed": Column(lazy_gettext("Completed"), lambda row: row.get("completed")),
    "terminated": Column(lazy_gettext("Terminated"), lambda row: row.get("terminated")),
    "confirmation": Column(
        lazy_gettext("Confirmed by customer"), lambda row: row.get("customer_confirmation_share")
    ),
    "disputes": Column(lazy_gettext("Dispute rate"), lambda row: row.get("dispute_rate")),
    "overdue": Column(lazy_gettext("Overdue"), lambda row: row.get("overdue_share")),
}
DEFAULT_SORT = "score"
ORDERS = ("asc", "desc")


def sorted_rows(
    rows: Sequence[Mapping[str, Any]], sort: str, order: str
) -> list[Mapping[str, Any]]:
    """``rows`` (the table's) by column ``sort`` in ``order`` (``asc`` or ``desc``); rows
    without a value come last in either order, and ties keep the ISV ids' order.

    Raises:
      KeyError: For a ``sort`` that is not in :data:`COLUMNS`.
    """
    key = COLUMNS[sort].key
    by_id = sorted(rows, key=lambda row: row["isv_id"])
    present = [row for row in by_id if key(row) is not None]
    missing = [row for row in by_id if key(row) is None]
    return sorted(present, key=key, reverse=order == "desc") + missing


def _row_view(row: Mapping[str, Any], token: str) -> dict[str, Any]:
    trend = trend_words(row.get("score"), row.get("previous_score"))
    return {
        "isv_id": row["isv_id"],
        "href": scorecard_path(row["isv_id"], token),
        "score": score_words(row.get("score")),
        "previous": score_words(row.get("previous_score")),
        "trend": trend,
        "opened": row.get("opened", 0),
        "completed": row.get("completed", 0),
        "terminated": row.get("terminated", 0),
        "confirmation": share_words(row.get("customer_confirmation_share")),
        "disputes": share_words(row.get("dispute_rate")),
        "overdue": share_words(row.get("overdue_share")),
    }


def _headings(sort: str, order: str, token: str) -> list[dict[str, Any]]:
    """Each column's heading, its link (the other order when it is the sorted column, its
    first order otherwise) and its ``aria-sort``."""
    headings = []
    for name, column in COLUMNS.items():
        current = name == sort
        next_order = ("asc" if order == "desc" else "desc") if current else column.first_order
        headings.append(
            {
                "name": name,
                "heading": str(column.heading),
                "href": scorecards_path(token, sort=name, order=next_order),
                "aria_sort": ("ascending" if order == "asc" else "descending") if current else None,
                "mark": ("▲" if order == "asc" else "▼") if current else "",
            }
        )
    return headings


@routes.get("/admin/scorecards")
@documented(
    "The administrators' table of every ISV's delivery score (an admin link)",
    public=True,
    parameters=(
        LINK_TOKEN,
        parameter(
            "sort",
            "query",
            f"the column to sort by: {', '.join(COLUMNS)}; default {DEFAULT_SORT}",
            required=False,
            schema={"type": "string", "enum": list(COLUMNS)},
        ),
        parameter(
            "order",
            "query",
            "asc or desc; default the column's own (desc, asc for isv)",
            required=False,
            schema={"type": "string", "enum": list(ORDERS)},
        ),
    ),
    responses={200: html_answer("the table"), **LINK_REFUSALS},
)
@html_errors
async def scorecards_page(request: web.Request) -> web.Response:
    """GET /admin/scorecards?t=&sort=&order=, an admin's link only: every ISV of the table
    the timers service last refreshed, with its score, the previous period's and the trend,
    its counts and shares, sorted by ``sort`` (default the score, best first; rows without a
    value last), at most :data:`TABLE_LIMIT`; each ISV links to its scorecard.

    An unknown ``sort`` or ``order`` shows the default with a notice; before the first
    refresh the page says so. Refusals are pages: 403 for a link that is not an admin's, 429
    over the limit.
    """
    token = request.query.get("t", "")
    link_of(request, token, None)
    gateway = gateway_of(request)
    with reading_page(*admin_reader(request, gateway.settings)):
        return await _scorecards_table(request, token)


async def _scorecards_table(request: web.Request, token: str) -> web.Response:
    """The table's page (:func:`scorecards_page`), in the current reader's language."""
    gateway = gateway_of(request)
    now = datetime.now(UTC)
    sort = request.query.get("sort", DEFAULT_SORT)
    notices = []
    if sort not in COLUMNS:
        notices.append(
            _("There is no column “{column}” to sort by; sorted by score.").format(column=sort)
        )
        sort = DEFAULT_SORT
    order = request.query.get("order", COLUMNS[sort].first_order)
    if order not in ORDERS:
        notices.append(
            _("“{order}” is no order (asc or desc); sorted {default}.").format(
                order=order, default=COLUMNS[sort].first_order
            )
        )
        order = COLUMNS[sort].first_order
    table = await ScorecardBook(gateway.db).latest_table()
    rows: list[dict[str, Any]] = []
    about = None
    total = 0
    if table is not None:
        ordered = sorted_rows(table.get("rows", []), sort, order)
        total = len(ordered)
        rows = [_row_view(row, token) for row in ordered[:TABLE_LIMIT]]
        about = {
            "computed": when_relative(table["computed_at"], now),
            "period": period_and_length_words(
                date.fromisoformat(table["first_day"]), date.fromisoformat(table["last_day"])
            ),
        }
    return render(
        "admin_scorecards.html",
        title=_("ISV scorecards"),
        token=token,
        admin_href=admin_path(token),
        rows=rows,
        total=total,
        total_words=counted(total, "{count} ISV", "{count} ISVs"),
        limit=TABLE_LIMIT,
        about=about,
        headings=_headings(sort, order, token),
        notices=notices,
        refresh_every=duration(gateway.settings.scorecard_refresh),
    )


@routes.get("/admin/scorecards/{isv_id}")
@documented(
    "One ISV's delivery scorecard, as an administrator sees it (an admin link)",
    public=True,
    parameters=(parameter("isv_id", "path", "the ISV"), LINK_TOKEN, *PERIOD_PARAMETERS),
    responses={
        200: html_answer("the ISV's scorecard"),
        400: html_answer("from or to is not a date written YYYY-MM-DD, or given twice"),
        422: html_answer(
            "to is before from (or from after today without to), the period is longer than "
            f"{MAX_PERIOD_DAYS} days, or it (or the one before it) starts before year 1"
        ),
        404: html_answer(f"no ISV can have this id (an ISV id is {ACTOR_ID_RULE})"),
        **LINK_REFUSALS,
    },
)
@html_errors
async def scorecard_page(request: web.Request) -> web.Response:
    """GET /admin/scorecards/{isv_id}?t=&from=&to=, an admin's link only: the ISV's
    scorecard section (``scorecard.render_scorecard``) of the period ``from`` to ``to`` (UTC
    days; default the last :data:`DEFAULT_PERIOD_DAYS` days up to today), with a form to pick
    another period. An ISV without deliveries has counts of 0 and no score.

    Refusals are pages: 404 for an id no ISV can have (``scorecard.isv_id_refusal``, as the
    API), 400 for a day not written ``YYYY-MM-DD`` or given twice, 422 for a period the
    API refuses too (``gateway.scorecards.query_period``), 403 for a link that is not an
    admin's, 429 over the limit.
    """
    token = request.query.get("t", "")
    link_of(request, token, None)
    with reading_page(*admin_reader(request, gateway_of(request).settings)):
        return await _one_scorecard(request, token)


async def _one_scorecard(request: web.Request, token: str) -> web.Response:
    """One ISV's page (:func:`scorecard_page`), in the current reader's language."""
    isv_id = request.match_info["isv_id"]
    refusal = isv_id_refusal(isv_id)
    if refusal is not None:
        # The rule of ids is the API's, in English (``shared.domain.roles.ACTOR_ID_RULE``).
        raise PageError(
            404, _("No such ISV"), _("{refusal}.").format(refusal=sentence_start(refusal))
        )
    now = datetime.now(UTC)
    period = query_period(request, now.date())
    data = await isv_scorecard(gateway_of(request), isv_id, now, period)
    return render(
        "admin_scorecard.html",
        title=_("Scorecard of {isv}").format(isv=isv_id),
        isv_id=isv_id,
        token=token,
        admin_href=admin_path(token),
        table_href=scorecards_path(token),
        path=scorecard_path(isv_id, token).partition("?")[0],
        first=period.first.isoformat(),
        last=period.last.isoformat(),
        scorecard_html=render_scorecard(data),
    )
