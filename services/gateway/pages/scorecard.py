"""An ISV's scorecard as a section of a page (``_scorecard.html``): the score with each part's
points and what it rewards, the trend against the previous period, the figures, and two
charts (``charts``), the score per 30-day period and the time per ISV-owned state against the
marketplace's median, each with its numbers in a table beside it.

:func:`isv_scorecard` reads what the section shows (``services.runtime.scorecards``: the ISV's
facts, by day, and the table the timers service refreshes for the marketplace's medians) and
:func:`render_scorecard` renders it; the ISV's own list (``/me``) and the administrators'
view of one ISV (``/admin/scorecards/{isv_id}``) both show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from markupsafe import Markup

from services.gateway.context import Gateway
from services.gateway.pages.charts import BarRow, TrendPoint, duration_bars, trend_chart
from services.gateway.pages.routing import templates
from services.runtime.scorecards import ScorecardBook
from shared.domain.delivery_facts import ALL_ISV_OWNED_STATES, STEPWISE_STAGES
from shared.domain.score_periods import DEFAULT_PERIOD_DAYS, Period
from shared.domain.scorecard import Scorecard, score_trend, scorecard_of
from shared.wording import (
    COMPONENT_LABELS,
    FIGURE_LABELS,
    NO_DATA,
    STATE_LABELS,
    day_words,
    duration,
    label,
    named,
    period_and_length_words,
    period_words,
    points_words,
    ratio_words,
    score_words,
    share_words,
    trend_words,
    when,
)
from shared.wording.reader import N_, Words, _, ngettext

#: What each part of the score rewards, as the page says it (the API's ``rewards`` stay the
#: English of ``shared.domain.scorecard``; a part without words here shows those).
COMPONENT_REWARDS: Mapping[str, str] = Words(
    {
        "customer_confirmation": N_("completed deliveries the customer confirmed"),
        "no_disputes": N_("deliveries without a dispute"),
        "on_time": N_("deliveries that never waited on the ISV past the patience"),
        "first_time_right": N_("few revision rounds and warranty service requests"),
        "completion": N_("deliveries that completed rather than were terminated"),
    }
)

#: The trend chart's periods: how many, of how many days each, the last ending today.
TREND_PERIODS = 6
TREND_PERIOD_DAYS = 30


def trend_periods(today: date, count: int = TREND_PERIODS, days: int = TREND_PERIOD_DAYS):
    """The ``count`` consecutive periods of ``days`` days, the last ending on ``today``,
    oldest first (``list[Period]``)."""
    periods = [Period.ending(today, days)]
    while len(periods) < count:
        periods.append(periods[-1].previous())
    return periods[::-1]


@dataclass(frozen=True)
class ScorecardData:
    """What the section shows, as read (:func:`isv_scorecard`).

    Parameters:
      card(Scorecard): The ISV's scorecard of its period, with the previous period's score.
      trend(list[tuple[Period, float | None]]): The score per trend period, oldest first
        (``shared.domain.scorecard.score_trend``).
      table(dict | None): The marketplace's part of the table as last refreshed
        (``ScorecardBook.latest_marketplace``), for the marketplace's medians; None before the
        first refresh.
      computed_at(datetime): When the ISV's figures were read (aware).
    """

    card: Scorecard
    trend: Sequence[tuple[Period, float | None]]
    table: Mapping[str, Any] | None
    computed_at: datetime


async def isv_scorecard(
    gateway: Gateway, isv_id: str, now: datetime, period: Period | None = None
) -> ScorecardData:
    """``isv_id``'s scorecard of ``period`` (by default the :data:`DEFAULT_PERIOD_DAYS` days up
    to today, UTC), its trend over :data:`TREND_PERIODS` periods up to today, and the table.

    Reads the ISV's facts of the days both cover, one read by ``_id`` (two when ``period`` is
    not within the trend's days or the other way round), and the marketplace's one document.

    Parameters:
      gateway(Gateway): Its database and ``confirm_window`` (the patience of *overdue*).
      isv_id(str): Whose.
      now(datetime): Aware; today is its UTC day.
      period(Period | None): Which openings the scorecard counts.

    Returns:
      ScorecardData: For :func:`render_scorecard`.
    """
    book = ScorecardBook(gateway.db)
    patience = gateway.settings.confirm_window
    today = now.astimezone(UTC).date()
    period = period or Period.ending(today, DEFAULT_PERIOD_DAYS)
    periods = trend_periods(today)
    card_span = (period.previous().first, period.last)
    trend_span = (periods[0].first, periods[-1].last)
    if card_span[0] <= trend_span[0] and trend_span[1] <= card_span[1]:
        facts = await book.facts_of_isv(isv_id, *card_span)
        trend_facts = facts
    elif trend_span[0] <= card_span[0] and card_span[1] <= trend_span[1]:
        facts = trend_facts = await book.facts_of_isv(isv_id, *trend_span)
    else:
        facts = await book.facts_of_isv(isv_id, *card_span)
        trend_facts = await book.facts_of_isv(isv_id, *trend_span)
    return ScorecardData(
        card=scorecard_of(isv_id, period, facts, now, patience),
        trend=score_trend(trend_facts, periods, now, patience),
        table=await book.latest_marketplace(),
        computed_at=now,
    )


def _time_rows(
    keys: Sequence[str], mine: Mapping[str, Any], market: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per state (or stage) with data on either side: its name, count, median and p90 (in
    words and seconds), and the marketplace's median."""
    rows = []
    for key in keys:
        spread, compared = mine.get(key), market.get(key)
        if spread is None and compared is None:
            continue
        median = None if spread is None else spread["median_seconds"]
        market_median = None if compared is None else compared["median_seconds"]
        rows.append(
            {
                "state": key,
                "label": label(STATE_LABELS, key),
                "count": 0 if spread is None else spread["count"],
                "median": _said(median),
                "p90": _said(None if spread is None else spread["p90_seconds"]),
                "market_median": _said(market_median),
                "seconds": median,
                "market_seconds": market_median,
            }
        )
    return rows


def _said(seconds: float | None) -> str:
    return NO_DATA if seconds is None else duration(timedelta(seconds=seconds))


def scorecard_view(data: ScorecardData) -> dict[str, Any]:
    """The context of ``_scorecard.html``: every number of ``data`` in words, and the charts.

    Returns:
      dict: ``isv_id``, ``period`` (and ``period_and_length``), ``previous_period`` (with
      its length) and ``previous`` (its score, shown whether or not this period has one),
      ``score``, ``trend`` (``shared.wording.TrendWords``),
      ``components`` (name, rewards, value, points, applies), ``figures`` ((name, value)
      pairs), ``open_by_state``, ``states`` and ``stages`` (time rows), ``trend_rows``,
      ``trend_chart`` and ``time_chart`` (SVG markup) and ``market`` (where the marketplace's
      medians come from: the refreshed table's period and when it was computed, whatever
      period the ISV's figures are of; or None).
    """
    card, table = data.card, data.table
    figures = card.figures
    score = card.score
    mine = figures.model_dump(mode="json")
    market = (table or {}).get("marketplace") or {}
    states = _time_rows(
        [s.value for s in ALL_ISV_OWNED_STATES],
        mine["time_in_state"],
        market.get("time_in_state") or {},
    )
    stages = _time_rows(
        [work.value for work, _ in STEPWISE_STAGES],
        mine["time_in_stage"],
        market.get("time_in_stage") or {},
    )
    points = [
        TrendPoint(day_words(p.last, year=False), period_words(p.first, p.last), total)
        for p, total in data.trend
    ]
    count = len(data.trend)
    days = data.trend[0][0].days if data.trend else TREND_PERIOD_DAYS
    pairs = [
        ("opened", str(figures.opened)),
        ("completed", str(figures.completed)),
        ("terminated", str(figures.terminated)),
        ("confirmed_by_customer", str(figures.confirmed_by_customer)),
        ("confirmed_automatically", str(figures.confirmed_automatically)),
        ("customer_confirmation_share", share_words(figures.customer_confirmation_share)),
        ("revision_rounds", str(figures.revision_rounds)),
        ("revision_rounds_per_delivery", ratio_words(figures.revision_rounds_per_delivery)),
        ("warranty_requests", str(figures.warranty_requests)),
        ("completed_warranty_deliveries", str(figures.completed_warranty_deliveries)),
        (
            "warranty_requests_per_warranty_delivery",
            ratio_words(figures.warranty_requests_per_warranty_delivery),
        ),
        ("disputed", str(figures.disputed)),
        ("dispute_rate", share_words(figures.dispute_rate)),
        ("terminated_after_dispute", str(figures.terminated_after_dispute)),
        ("overdue", str(figures.overdue)),
        ("overdue_share", share_words(figures.overdue_share)),
    ]
    before = Period(card.first_day, card.last_day).previous()
    trend_title = ngettext(
        "Score per {days}-day period, the last {count}",
        "Score per {days}-day period, the last {count}",
        count,
    ).format(days=days, count=count)
    return {
        "computed": when(data.computed_at),
        "isv_id": card.isv_id,
        "period": period_words(card.first_day, card.last_day),
        "period_and_length": period_and_length_words(card.first_day, card.last_day),
        "previous_period": period_and_length_words(before.first, before.last),
        "score": score_words(score.total),
        "has_score": score.total is not None,
        "previous": score_words(card.previous_score),
        "trend": trend_words(score.total, card.previous_score),
        "components": [
            {
                "name": c.name,
                "label": label(COMPONENT_LABELS, c.name),
                "rewards": COMPONENT_REWARDS.get(c.name, c.rewards),
                "weight": c.weight,
                "value": share_words(c.value),
                "points": points_words(c.points, c.max_points),
                "applies": c.points is not None,
            }
            for c in score.components
        ],
        "figures": [(id_, FIGURE_LABELS[id_], value) for id_, value in pairs],
        "open_by_state": [
            (named(STATE_LABELS, state), n) for state, n in figures.open_by_state.items()
        ],
        "open_label": FIGURE_LABELS["open_by_state"],
        "states": states,
        "stages": stages,
        "trend_rows": [(p.name, score_words(p.score)) for p in points],
        "trend_title": trend_title,
        "trend_chart": trend_chart(points, chart_id="score-trend", title=trend_title),
        "time_chart": duration_bars(
            [BarRow(r["label"], r["seconds"], r["market_seconds"]) for r in states],
            chart_id="time-in-state",
            title=_("Median time in each of the ISV's states, against the marketplace's median"),
            legend=(_("This ISV"), _("Marketplace")),
        ),
        "market": table
        and {
            "period": period_and_length_words(
                date.fromisoformat(table["first_day"]), date.fromisoformat(table["last_day"])
            ),
            "computed": when(table["computed_at"]),
        },
    }


def render_scorecard(data: ScorecardData) -> Markup:
    """The scorecard section (``_scorecard.html``) of ``data``, ready to insert in a page
    (its ``scorecard_html``): every text in it escaped, the charts inline SVG."""
    return Markup(templates.get_template("_scorecard.html").render(**scorecard_view(data)))
