"""The scorecard's pictures and words (issue 18): the inline SVG charts (``pages.charts``), the
ISV's scorecard section (``pages.scorecard``), the admin table's sorting
(``pages.admin_scorecards``) and the score words (``shared.wording.scores``)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from services.gateway.pages.admin_scorecards import COLUMNS, sorted_rows
from services.gateway.pages.charts import (
    BARS_MAX_LENGTH,
    BarRow,
    TrendPoint,
    bar_length,
    duration_bars,
    score_y,
    trend_chart,
)
from services.gateway.pages.routing import shown, templates
from services.gateway.pages.scorecard import (
    ScorecardData,
    render_scorecard,
    scorecard_view,
    trend_periods,
)
from services.runtime.scorecards import table_of
from shared.domain.delivery_facts import DeliveryFacts
from shared.domain.score_periods import Period
from shared.domain.scorecard import score_trend, scorecard_of
from shared.domain.states import ProcessName, State
from shared.wording import (
    counted,
    days_words,
    duration,
    period_and_length_words,
    period_words,
    score_words,
    share_words,
    trend_words,
)

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PATIENCE = timedelta(days=14)
HOSTILE = '<script>alert("x")</script> & \' " onload="steal()'


def parsed(markup: str) -> ET.Element:
    """The chart as XML: it must parse (well-formed) and be one ``<svg>``."""
    root = ET.fromstring(str(markup))
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def assert_accessible_and_inert(root: ET.Element) -> None:
    """A picture with a title and a description that name it; nothing that runs or styles."""
    assert root.get("role") == "img"
    labelled = root.get("aria-labelledby").split()
    ids = {node.get("id") for node in root.iter() if node.get("id")}
    assert labelled and set(labelled) <= ids
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    for node in root.iter():
        assert node.tag.removeprefix(SVG) not in ("script", "foreignObject", "style", "a")
        assert not any(name.startswith("on") or name == "style" for name in node.attrib)


# -- the trend chart ------------------------------------------------------------------------------


def test_trend_columns_stand_on_the_0_to_100_axis_in_proportion():
    points = [TrendPoint("30 Jun", "1–30 Jun", 40.0), TrendPoint("30 Jul", "1–30 Jul", 80.0)]
    root = parsed(trend_chart(points, chart_id="trend", title="Score"))
    assert_accessible_and_inert(root)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    heights = [float(bar.get("height")) for bar in bars]
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    base = score_y(0)
    for bar, score in zip(bars, (40.0, 80.0), strict=True):
        assert float(bar.get("y")) == pytest.approx(score_y(score), abs=0.1)
        assert float(bar.get("y")) + float(bar.get("height")) == pytest.approx(base, abs=0.1)
    assert score_y(100) < score_y(50) < score_y(0)  # 100 at the top
    # The axis is labelled 0-100, each column with its score and period.
    assert {"0", "25", "50", "75", "100", "40.0", "80.0", "30 Jun", "30 Jul"} <= set(texts(root))
    assert len([line for line in root.iter(f"{SVG}line") if line.get("class") == "trend-line"])
    description = root.find(f"{SVG}desc").text
    assert "1–30 Jun: 40.0" in description and "1–30 Jul: 80.0" in description


def test_a_period_without_a_score_has_no_column_and_breaks_the_line():
    points = [TrendPoint("a", "A", 50.0), TrendPoint("b", "B", None), TrendPoint("c", "C", 70.0)]
    root = parsed(trend_chart(points, chart_id="t", title="Score"))
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]) == 2
    assert not [line for line in root.iter(f"{SVG}line") if line.get("class") == "trend-line"]
    assert "no score" in texts(root)
    assert "B: no score" in root.find(f"{SVG}desc").text


def test_scores_outside_0_to_100_stay_on_the_chart():
    root = parsed(trend_chart([TrendPoint("x", "X", 130.0)], chart_id="t", title="t"))
    (bar,) = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert float(bar.get("y")) == pytest.approx(score_y(100))


def test_an_empty_trend_is_the_axis_saying_no_data():
    root = parsed(trend_chart([], chart_id="t", title="Score"))
    assert_accessible_and_inert(root)
    assert "no data" in texts(root)
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_trend_words_are_escaped():
    markup = trend_chart([TrendPoint(HOSTILE, HOSTILE, 10.0)], chart_id=HOSTILE, title=HOSTILE)
    root = parsed(markup)
    assert_accessible_and_inert(root)
    assert "<script" not in markup and 'onload="' not in markup
    assert root.find(f"{SVG}title").text == HOSTILE
    assert HOSTILE in texts(root)
    assert re.fullmatch(r"c-[A-Za-z0-9_-]+", root.get("id"))


# -- the bars ------------------------------------------------------------------------------------


def test_bars_are_proportional_to_their_seconds_on_one_scale():
    rows = [BarRow("Delivery", 7200.0, 3600.0), BarRow("Contract", 1800.0, None)]
    root = parsed(
        duration_bars(rows, chart_id="bars", title="Time", legend=("This ISV", "Marketplace"))
    )
    assert_accessible_and_inert(root)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    widths = [float(bar.get("width")) for bar in bars]
    assert widths == pytest.approx([BARS_MAX_LENGTH, BARS_MAX_LENGTH / 2, BARS_MAX_LENGTH / 4])
    words = texts(root)
    # Durations in the one wording ("shared.wording.duration"); a missing one says so.
    assert {"2 hours", "1 hour", "30 minutes", "no data", "This ISV", "Marketplace"} <= set(words)
    description = root.find(f"{SVG}desc").text
    assert "Delivery: This ISV 2 hours, Marketplace 1 hour" in description
    assert "Contract: This ISV 30 minutes, Marketplace no data" in description
    titles = [bar.find(f"{SVG}title").text for bar in bars]
    assert titles[0] == "Delivery, This ISV: 2 hours"


def test_bar_length_is_proportional_and_zero_without_time():
    assert bar_length(50, 100) == BARS_MAX_LENGTH / 2
    assert bar_length(0, 0) == 0
    assert bar_length(10, 0) == 0


def test_no_rows_is_the_legend_saying_no_data():
    root = parsed(duration_bars([], chart_id="b", title="Time", legend=("A", "B")))
    assert_accessible_and_inert(root)
    assert "no data" in texts(root)
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_bar_words_are_escaped():
    markup = duration_bars(
        [BarRow(HOSTILE, 10.0, 20.0)], chart_id=HOSTILE, title=HOSTILE, legend=(HOSTILE, "<b>")
    )
    root = parsed(markup)
    assert_accessible_and_inert(root)
    assert "<script" not in markup and "<b>" not in markup
    assert HOSTILE in texts(root) and "<b>" in texts(root)


@given(
    st.lists(
        st.tuples(
            st.text(max_size=30), st.none() | st.floats(0, 1e9), st.none() | st.floats(0, 1e9)
        ),
        max_size=8,
    ),
    st.text(max_size=30),
)
def test_any_words_and_numbers_make_well_formed_inert_charts(rows, words):
    """Whatever the labels hold (control characters, lone surrogates, markup) and whatever
    the numbers, both charts parse as XML and carry nothing that runs."""
    bars = duration_bars(
        [BarRow(*row) for row in rows], chart_id=words, title=words, legend=(words, words)
    )
    assert_accessible_and_inert(parsed(bars))
    trend = [TrendPoint(label, label, None if a is None else min(a, 100.0)) for label, a, _ in rows]
    assert_accessible_and_inert(parsed(trend_chart(trend, chart_id=words, title=words)))


# -- the section ---------------------------------------------------------------------------------


def fact(n: int, opened: datetime, isv: str = "isv-1", **fields) -> DeliveryFacts:
    base = {
        "delivery_id": f"{n:032x}",
        "isv_id": isv,
        "process": ProcessName.BASIC,
        "opened_at": opened,
        "version": 5,
        "state": State.COMPLETED,
        "confirmed_by": "customer",
        "seconds_in_state": {"in_delivery": 3600.0 * n},
    }
    return DeliveryFacts(**{**base, **fields})


def section_data(isv: str, table: bool = True) -> ScorecardData:
    facts = [
        fact(1, NOW - timedelta(days=5), isv),
        fact(2, NOW - timedelta(days=20), isv, confirmed_by="automatic", revision_rounds=1),
        fact(3, NOW - timedelta(days=100), isv, disputed=True),
        fact(
            4,
            NOW - timedelta(days=2),
            "other",
            process=ProcessName.STEPWISE,
            seconds_in_state={"functional_design": 600.0},
            seconds_in_stage={"functional_design": 900.0},
        ),
    ]
    period = Period.ending(NOW.date())
    mine = [f for f in facts if f.isv_id == isv]
    return ScorecardData(
        card=scorecard_of(isv, period, mine, NOW, PATIENCE),
        trend=score_trend(mine, trend_periods(NOW.date()), NOW, PATIENCE),
        table=table_of(period, facts, NOW, PATIENCE) if table else None,
        computed_at=NOW,
    )


def test_trend_periods_are_six_of_30_days_ending_today_oldest_first():
    periods = trend_periods(date(2026, 11, 30))
    assert len(periods) == 6 and all(p.days == 30 for p in periods)
    assert periods[-1].last == date(2026, 11, 30)
    assert all(
        a.last + timedelta(days=1) == b.first for a, b in zip(periods, periods[1:], strict=False)
    )


def test_the_section_shows_each_part_the_figures_the_trend_and_both_charts():
    data = section_data("isv-1")
    view = scorecard_view(data)
    assert view["score"] == score_words(data.card.score.total)
    assert [c["name"] for c in view["components"]] == [
        "customer_confirmation",
        "no_disputes",
        "on_time",
        "first_time_right",
        "completion",
    ]
    assert view["trend"].direction in ("up", "down", "same")  # the previous period had one
    figures = {key: value for key, _, value in view["figures"]}
    assert figures["opened"] == "2" and figures["confirmed_automatically"] == "1"
    assert figures["customer_confirmation_share"] == "50%"
    delivery, design = view["states"]
    assert (delivery["label"], delivery["median"], delivery["market_median"]) == (
        "Delivery",
        "2 hours",  # isv-1: 1 and 2 hours, median 1.5 hours, said to the nearest hour
        "2 hours",  # the marketplace's 1 and 2 hours of the period
    )
    # A state only the marketplace has data for is shown, the ISV's side empty.
    assert (design["label"], design["count"], design["median"], design["market_median"]) == (
        "Functional design",
        0,
        "no data",
        "10 minutes",
    )
    assert [(s["state"], s["market_median"]) for s in view["stages"]] == [
        ("functional_design", "15 minutes")
    ]
    html = render_scorecard(data)
    for words in ("Delivery score", "Customer confirmation", "Rewards", "of 100", "15.0 of"):
        assert words in html
    assert html.count("<svg") == 2
    assert 'id="score-trend-data"' in html  # the numbers beside the chart
    assert "every ISV's deliveries opened" in html


def test_the_section_escapes_a_hostile_isv_and_says_when_the_marketplace_is_not_known():
    html = render_scorecard(section_data(HOSTILE, table=False))
    assert "<script>" not in html and 'onload="' not in html
    assert "The marketplace's medians are not computed yet." in html
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        parsed(svg)


def test_a_period_without_deliveries_has_no_score_and_says_so():
    period = Period.ending(NOW.date())
    data = ScorecardData(
        card=scorecard_of("nobody", period, [], NOW, PATIENCE),
        trend=score_trend([], trend_periods(NOW.date()), NOW, PATIENCE),
        table=None,
        computed_at=NOW,
    )
    html = render_scorecard(data)
    assert "no score" in html and "No delivery was opened in this period" in html
    assert "No visit to a state of the ISV" in html


# -- the admin table's order ---------------------------------------------------------------------


ROWS = [
    {"isv_id": "b", "score": 70.0, "previous_score": 80.0, "opened": 3, "dispute_rate": 0.5},
    {"isv_id": "a", "score": None, "previous_score": 60.0, "opened": 0, "dispute_rate": None},
    {"isv_id": "c", "score": 90.0, "previous_score": None, "opened": 5, "dispute_rate": 0.0},
    {"isv_id": "d", "score": 70.0, "previous_score": 65.0, "opened": 1, "dispute_rate": 0.1},
]


@pytest.mark.parametrize(
    ("sort", "order", "ids"),
    [
        ("score", "desc", ["c", "b", "d", "a"]),  # ties by id, no score last
        ("score", "asc", ["b", "d", "c", "a"]),
        ("trend", "desc", ["d", "b", "a", "c"]),  # +5, -10; no trend last
        ("trend", "asc", ["b", "d", "a", "c"]),
        ("isv", "asc", ["a", "b", "c", "d"]),
        ("isv", "desc", ["d", "c", "b", "a"]),
        ("disputes", "asc", ["c", "d", "b", "a"]),
        ("opened", "desc", ["c", "b", "d", "a"]),
    ],
)
def test_rows_sort_by_any_column_with_missing_values_last(sort, order, ids):
    assert [row["isv_id"] for row in sorted_rows(ROWS, sort, order)] == ids


def test_every_column_sorts_rows_without_its_value():
    for name in COLUMNS:
        assert len(sorted_rows([{"isv_id": "x"}, ROWS[0]], name, "asc")) == 2


# -- the words -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "previous", "direction", "mark"),
    [
        (82.5, 78.3, "up", "▲ +4.2"),
        (70.0, 73.0, "down", "▼ −3.0"),
        (70.0, 70.04, "same", "= 0.0"),
        (70.0, None, "new", "new"),
        (None, 70.0, "none", ""),
    ],
)
def test_the_trend_against_the_previous_period(score, previous, direction, mark):
    words = trend_words(score, previous)
    assert (words.direction, words.mark) == (direction, mark)


def test_shares_are_whole_percentages_rounding_half_up():
    assert [share_words(v) for v in (0.825, 0.824, 0.005, 1.0, 0.0, None)] == [
        "83%",
        "82%",
        "1%",
        "100%",
        "0%",
        "no data",
    ]


def test_a_period_in_words():
    assert period_words(date(2026, 1, 1), date(2026, 1, 30)) == "1 Jan 2026 – 30 Jan 2026"


def test_counts_say_one_or_many_from_one_rule():
    assert [days_words(n) for n in (0, 1, 2, 90)] == ["0 days", "1 day", "2 days", "90 days"]
    assert (
        counted(1, "{count} ISV", "{count} ISVs") == "1 ISV"
        and counted(3, "{count} ISV", "{count} ISVs") == "3 ISVs"
    )
    assert (
        counted(2500, "{count} delivery", "{count} deliveries", grouped=True) == "2,500 deliveries"
    )
    assert duration(timedelta(days=1)) == "1 day" and duration(timedelta(hours=2)) == "2 hours"
    day = date(2026, 11, 30)
    assert period_and_length_words(day, day) == "30 Nov 2026 – 30 Nov 2026 (1 day)"
    assert period_and_length_words(date(2026, 11, 1), day).endswith("(30 days)")


def _one_day_section(facts: list[DeliveryFacts]) -> str:
    day = Period(NOW.date(), NOW.date())
    return render_scorecard(
        ScorecardData(
            card=scorecard_of("isv-1", day, facts, NOW, PATIENCE),
            trend=score_trend(facts, trend_periods(NOW.date()), NOW, PATIENCE),
            table=None,
            computed_at=NOW,
        )
    )


def test_a_one_day_period_says_1_day_and_a_missing_score_shows_the_previous_one():
    yesterday = fact(1, NOW - timedelta(days=1), "isv-1")
    html = _one_day_section([yesterday])
    assert "(1 day)" in html and "1 days" not in html
    assert "No delivery was opened in this period" in html
    previous = re.search(r'id="score-previous">(.*?)</p>', html, re.S).group(1)
    assert "29 Nov 2026 – 29 Nov 2026 (1 day)" in previous
    assert f'<span id="score-previous-value">{score_words(100.0)}</span>' in previous
    # With a score now, the previous one is there too, and so is the trend.
    html = _one_day_section([yesterday, fact(2, NOW, "isv-1")])
    assert 'id="score-trend-mark"' in html and 'id="score-previous-value">100.0<' in html


def test_the_time_chart_says_which_period_each_side_is_of():
    data = section_data("isv-1")
    asked = Period(date(2026, 10, 1), date(2026, 10, 31))
    data = ScorecardData(
        card=scorecard_of("isv-1", asked, [], NOW, PATIENCE),
        trend=data.trend,
        table=data.table,
        computed_at=NOW,
    )
    note = re.search(r'id="time-chart-periods">(.*?)</p>', render_scorecard(data), re.S)
    words = " ".join(note.group(1).split())
    assert "This ISV: its deliveries opened 1 Oct 2026 – 31 Oct 2026 (31 days)." in words
    table_period = period_and_length_words(Period.ending(NOW.date()).first, NOW.date())
    assert f"Marketplace: every ISV's deliveries opened {table_period}" in words
    assert "as of its last refresh" in words


def test_no_page_writes_a_raw_control_character():
    """Every value a template writes passes ``routing.shown`` (Jinja's finalize)."""
    page = templates.from_string('<h1 title="{{ id }}">{{ id }}</h1>{{ markup }}{{ n }}').render(
        id="a\x00b\x1b[2J\x7f\x85<", markup=Markup("<i>\x00</i>"), n=3
    )
    seen = "a\ufffdb\ufffd[2J\ufffd\ufffd&lt;"
    assert page == f'<h1 title="{seen}">{seen}</h1><i>\ufffd</i>3'
    assert shown("line\tone\r\nline two") == "line\tone\r\nline two"
    html = _one_day_section([fact(1, NOW, "isv\x00\x01")])
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", html)
