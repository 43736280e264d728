"""``shared.domain.scorecard``: every fact, figure and the score, on histories made by hand
through the real engine (``support.Walker``), each time chosen so the expected figure is known.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.commands import OpenDispute, RequestChanges, ResolveDispute, Terminate
from shared.domain.delivery_facts import (
    ALL_ISV_OWNED_STATES,
    ISV_OWNED_STATES,
    STEPWISE_STAGES,
    DeliveryFacts,
    facts_of,
)
from shared.domain.processes import PROCESSES
from shared.domain.score_periods import (
    Period,
    PeriodProblem,
    day_key,
    given_day,
    isv_id_refusal,
    parse_day,
    requested_period,
)
from shared.domain.scorecard import (
    COMPONENTS,
    component_values,
    figures_of,
    score_of,
    score_trend,
    scorecard_of,
    spread_of,
)
from shared.domain.states import ProcessName, State

from .support import ADMIN, CUSTOMER, ISV, SYSTEM, T0, Walker, sample_command

H = timedelta(hours=1)
PATIENCE = timedelta(days=14)
PARTIES = {"customer": CUSTOMER, "isv": ISV, "system": SYSTEM}


def hours(n: float) -> float:
    return n * 3600.0


def walk(process: ProcessName, *steps: tuple[str, float]) -> Walker:
    """Apply each ``(command, hours after the previous one)`` by its right party."""
    walker = Walker(process)
    for kind, after in steps:
        if kind in ("open_dispute", "resolve_dispute", "terminate", "resolve_terminate"):
            command = {
                "open_dispute": lambda: OpenDispute(reason="scope"),
                "resolve_dispute": lambda: ResolveDispute(outcome="continue"),
                "resolve_terminate": lambda: ResolveDispute(outcome="terminate"),
                "terminate": lambda: Terminate(reason="refunded"),
            }[kind]()
            actor = CUSTOMER if kind == "open_dispute" else ADMIN
            walker.apply(command, actor, advance=timedelta(hours=after))
            continue
        rows = [r for r in walker.process.rows_from(walker.delivery.state) if r.command == kind]
        assert rows, f"no {kind} from {walker.delivery.state}"
        walker.apply(
            sample_command(kind, walker.delivery, deadline=rows[0].deadline),
            PARTIES[rows[0].role.value],
            advance=timedelta(hours=after),
        )
    return walker


# -- the states the scorecard calls the ISV's, from the tables ----------------------------------


def test_isv_owned_states_are_where_only_the_isv_moves_on():
    assert ISV_OWNED_STATES[ProcessName.BASIC] == {State.IN_DELIVERY}
    assert ISV_OWNED_STATES[ProcessName.DOUBLE_CHECK] == {State.IN_DELIVERY}
    assert ISV_OWNED_STATES[ProcessName.CONTRACT] == {State.AWAITING_CONTRACT, State.IN_DELIVERY}
    assert ISV_OWNED_STATES[ProcessName.STEPWISE] == {
        State.FUNCTIONAL_DESIGN,
        State.UED,
        State.DEVELOPMENT_TESTING,
    }
    assert set(ALL_ISV_OWNED_STATES) == set().union(*ISV_OWNED_STATES.values())
    assert STEPWISE_STAGES == (
        (State.FUNCTIONAL_DESIGN, State.CONFIRM_FUNCTIONAL_DESIGN),
        (State.UED, State.CONFIRM_UED),
        (State.DEVELOPMENT_TESTING, State.INSPECTION_ACCEPTANCE),
    )


# -- one delivery's facts ----------------------------------------------------------------------


def test_basic_confirmed_by_the_customer():
    walker = walk(ProcessName.BASIC, ("submit_demand", 2), ("finish", 10), ("confirm", 1))
    facts = facts_of(walker.delivery)
    assert facts.state == State.COMPLETED and facts.completed and not facts.terminated
    assert facts.confirmed_by == "customer"
    assert facts.seconds_in_state == {"in_delivery": hours(10)}
    assert facts.longest_isv_wait_seconds == hours(10)
    assert facts.isv_wait_seconds == 0 and facts.isv_waiting_since is None
    assert (facts.revision_rounds, facts.warranty_requests, facts.disputed) == (0, 0, False)
    assert facts.version == walker.delivery.version and facts.opened_at == T0


def test_revision_round_then_the_window_runs_out():
    walker = walk(
        ProcessName.BASIC,
        ("submit_demand", 1),
        ("finish", 10),
        ("request_changes", 3),
        ("finish", 5),
        ("expire_deadline", 24 * 14),
    )
    facts = facts_of(walker.delivery)
    assert facts.confirmed_by == "automatic"
    assert facts.revision_rounds == 1
    # Both visits to in_delivery add up; the longest is the first.
    assert facts.seconds_in_state == {"in_delivery": hours(15)}
    assert facts.longest_isv_wait_seconds == hours(10)


def test_dispute_time_is_not_the_isvs():
    walker = walk(
        ProcessName.BASIC,
        ("submit_demand", 1),
        ("open_dispute", 2),
        ("resolve_dispute", 5),
        ("finish", 3),
        ("confirm", 1),
    )
    facts = facts_of(walker.delivery)
    assert facts.disputed and not facts.terminated_after_dispute
    assert facts.seconds_in_state == {"in_delivery": hours(5)}


def test_terminated_after_a_dispute_either_way():
    by_resolution = walk(
        ProcessName.CONTRACT, ("submit_demand", 1), ("open_dispute", 4), ("resolve_terminate", 2)
    )
    facts = facts_of(by_resolution.delivery)
    assert facts.terminated and facts.terminated_after_dispute and facts.confirmed_by is None
    # The visit ended with the termination; the dispute's two hours are not counted.
    assert facts.seconds_in_state == {"awaiting_contract": hours(4)}
    by_admin = walk(ProcessName.BASIC, ("submit_demand", 1), ("open_dispute", 1), ("terminate", 1))
    assert facts_of(by_admin.delivery).terminated_after_dispute
    plain = walk(ProcessName.BASIC, ("submit_demand", 1), ("terminate", 1))
    assert not facts_of(plain.delivery).terminated_after_dispute
    assert facts_of(plain.delivery).terminated


def test_stepwise_stages_include_their_revision_rounds():
    walker = walk(
        ProcessName.STEPWISE,
        ("submit_demand", 1),
        ("finish", 10),  # functional design: 10 h of work
        ("request_changes", 2),
        ("finish", 4),
        ("confirm", 1),  # stage 1: 10 + 2 + 4 + 1 = 17 h
        ("finish", 20),
        ("confirm", 3),  # stage 2: 23 h
        ("finish", 30),
    )
    facts = facts_of(walker.delivery)
    assert facts.seconds_in_stage == {"functional_design": hours(17), "ued": hours(23)}
    assert facts.seconds_in_state == {
        "functional_design": hours(14),
        "ued": hours(20),
        "development_testing": hours(30),
    }
    assert facts.revision_rounds == 1
    # Waiting on the customer now, not on the ISV.
    assert facts.isv_waiting_since is None and facts.isv_wait_seconds == 0


def test_double_check_counts_warranty_requests_and_judges_the_first_confirmation():
    walker = walk(
        ProcessName.DOUBLE_CHECK,
        ("submit_demand", 1),
        ("finish", 6),
        ("expire_deadline", 24 * 14),
        ("request_warranty_service", 24),
        ("request_warranty_service", 24),
        ("confirm_warranty", 24),
    )
    facts = facts_of(walker.delivery)
    assert facts.completed and facts.confirmed_by == "automatic"
    assert facts.warranty_requests == 2


def test_a_running_wait_counts_up_to_now_and_pauses_in_a_dispute():
    walker = walk(ProcessName.BASIC, ("submit_demand", 1))
    facts = facts_of(walker.delivery)
    started = walker.now
    assert facts.isv_waiting_since == started and facts.isv_wait_seconds == 0
    assert not facts.went_overdue(started + PATIENCE, PATIENCE)
    assert facts.went_overdue(started + PATIENCE + timedelta(seconds=1), PATIENCE)
    walker.apply(OpenDispute(reason="scope"), ISV, advance=timedelta(days=10))
    paused = facts_of(walker.delivery)
    assert paused.isv_waiting_since is None and paused.isv_wait_seconds == hours(240)
    # Paused: however late it is, the wait does not grow.
    assert not paused.went_overdue(started + timedelta(days=400), PATIENCE)
    walker.apply(ResolveDispute(outcome="continue"), ADMIN, advance=timedelta(days=30))
    resumed = facts_of(walker.delivery)
    assert resumed.isv_wait_seconds == hours(240) and resumed.isv_waiting_since == walker.now
    assert not resumed.went_overdue(walker.now + timedelta(days=4), PATIENCE)
    assert resumed.went_overdue(walker.now + timedelta(days=4, seconds=1), PATIENCE)


def test_a_finished_long_wait_stays_overdue():
    walker = walk(ProcessName.BASIC, ("submit_demand", 1), ("finish", 24 * 15), ("confirm", 1))
    facts = facts_of(walker.delivery)
    assert facts.went_overdue(walker.now, PATIENCE)
    assert not facts.went_overdue(walker.now, timedelta(days=16))


def test_facts_survive_a_round_trip_through_json():
    walker = walk(ProcessName.STEPWISE, ("submit_demand", 1), ("finish", 3))
    facts = facts_of(walker.delivery)
    assert DeliveryFacts.model_validate(facts.model_dump(mode="json")) == facts


# -- spreads ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([5.0], 5.0, 5.0),
        ([1.0, 3.0], 2.0, 3.0),
        ([4.0, 1.0, 3.0, 2.0], 2.5, 4.0),
        (list(map(float, range(1, 11))), 5.5, 9.0),  # rank ⌈9⌉ = 9
        (list(map(float, range(1, 12))), 6.0, 10.0),  # rank ⌈9.9⌉ = 10
        (list(map(float, range(1, 21))), 10.5, 18.0),
    ],
)
def test_spread_is_the_median_and_the_nearest_rank_p90(values, median, p90):
    spread = spread_of(values)
    assert spread is not None
    assert (spread.count, spread.median_seconds, spread.p90_seconds) == (len(values), median, p90)


def test_no_values_no_spread():
    assert spread_of([]) is None


# -- a period's figures -------------------------------------------------------------------------


def fact(n: int, **fields) -> DeliveryFacts:
    base = {
        "delivery_id": f"{n:032x}",
        "isv_id": "isv-1",
        "process": ProcessName.BASIC,
        "opened_at": T0,
        "version": 5,
        "state": State.COMPLETED,
        "confirmed_by": "customer",
    }
    return DeliveryFacts(**{**base, **fields})


SAMPLE = [
    fact(1, seconds_in_state={"in_delivery": 100.0}),
    fact(2, confirmed_by="automatic", seconds_in_state={"in_delivery": 300.0}, revision_rounds=2),
    fact(
        3,
        process=ProcessName.DOUBLE_CHECK,
        warranty_requests=3,
        seconds_in_state={"in_delivery": 200.0},
    ),
    fact(
        4, state=State.TERMINATED, confirmed_by=None, disputed=True, terminated_after_dispute=True
    ),
    fact(5, state=State.IN_DELIVERY, confirmed_by=None, isv_waiting_since=T0),
    fact(
        6,
        process=ProcessName.STEPWISE,
        state=State.UED,
        confirmed_by=None,
        disputed=True,
        seconds_in_stage={"functional_design": 50.0},
        seconds_in_state={"functional_design": 40.0},
        longest_isv_wait_seconds=PATIENCE.total_seconds() + 1,
    ),
]


def test_figures_of_a_hand_made_cohort():
    now = T0 + timedelta(days=20)  # delivery 5 has waited on the ISV for 20 days: overdue
    figures = figures_of(SAMPLE, now, PATIENCE)
    assert (figures.opened, figures.completed, figures.terminated) == (6, 3, 1)
    assert figures.open_by_state == {"in_delivery": 1, "ued": 1}
    assert (figures.confirmed_by_customer, figures.confirmed_automatically) == (2, 1)
    assert figures.customer_confirmation_share == pytest.approx(2 / 3)
    assert figures.time_in_state["in_delivery"].model_dump() == {
        "count": 3,
        "median_seconds": 200.0,
        "p90_seconds": 300.0,
    }
    assert figures.time_in_state["functional_design"].count == 1
    assert figures.time_in_stage["functional_design"].median_seconds == 50.0
    assert (figures.revision_rounds, figures.revision_rounds_per_delivery) == (2, 2 / 6)
    assert (figures.warranty_requests, figures.completed_warranty_deliveries) == (3, 1)
    assert figures.warranty_requests_per_warranty_delivery == 3.0
    assert (figures.disputed, figures.terminated_after_dispute) == (2, 1)
    assert figures.dispute_rate == pytest.approx(2 / 6)
    assert (figures.overdue, figures.overdue_share) == (2, pytest.approx(2 / 6))


def test_an_empty_period_has_counts_of_zero_and_no_shares():
    figures = figures_of([], T0, PATIENCE)
    assert figures.opened == 0 and figures.open_by_state == {}
    assert figures.customer_confirmation_share is None and figures.dispute_rate is None
    assert figures.time_in_state == {} and figures.overdue_share is None


# -- the score ----------------------------------------------------------------------------------


def test_the_weights_add_up_to_100():
    assert sum(c.weight for c in COMPONENTS) == 100
    assert len({c.name for c in COMPONENTS}) == len(COMPONENTS)


def test_score_of_the_hand_made_cohort():
    figures = figures_of(SAMPLE, T0 + timedelta(days=20), PATIENCE)
    values = component_values(figures)
    assert values["customer_confirmation"] == pytest.approx(2 / 3)
    assert values["no_disputes"] == pytest.approx(4 / 6)
    assert values["on_time"] == pytest.approx(4 / 6)
    # rework: 2/6 revision rounds per delivery + 3 requests per warranty delivery, over 2 → 0
    assert values["first_time_right"] == 0.0
    assert values["completion"] == pytest.approx(3 / 4)
    expected = 30 * 2 / 3 + 20 * 4 / 6 + 20 * 4 / 6 + 0 + 15 * 3 / 4
    score = score_of(figures)
    assert score.total == round(expected, 1) == 57.9
    assert [c.name for c in score.components] == [c.name for c in COMPONENTS]
    assert [c.max_points for c in score.components] == [30, 20, 20, 15, 15]
    assert sum(c.points for c in score.components) == pytest.approx(score.total, abs=0.3)


def test_a_perfect_isv_scores_100_and_components_without_data_do_not_count():
    perfect = [fact(n, seconds_in_state={"in_delivery": 60.0}) for n in range(3)]
    assert score_of(figures_of(perfect, T0, PATIENCE)).total == 100.0
    # Nothing finished yet: confirmation and completion do not apply; the rest scale to 100.
    waiting = [fact(n, state=State.IN_DELIVERY, confirmed_by=None) for n in range(2)]
    score = score_of(figures_of(waiting, T0, PATIENCE))
    assert score.total == 100.0
    by_name = {c.name: c for c in score.components}
    assert by_name["customer_confirmation"].points is None
    assert by_name["completion"].value is None
    assert by_name["no_disputes"].max_points == round(100 * 20 / 55, 1)


def test_no_deliveries_no_score():
    score = score_of(figures_of([], T0, PATIENCE))
    assert score.total is None
    assert all(c.value is None and c.points is None for c in score.components)


def test_rework_lowers_first_time_right_linearly():
    for rounds, expected in ((0, 1.0), (1, 0.5), (2, 0.0), (5, 0.0)):
        figures = figures_of([fact(1, revision_rounds=rounds)], T0, PATIENCE)
        assert component_values(figures)["first_time_right"] == expected


# -- periods ------------------------------------------------------------------------------------


def test_the_default_period_is_the_last_90_days_and_the_previous_one_abuts_it():
    period = Period.ending(date(2026, 11, 30))
    assert (period.first, period.last, period.days) == (date(2026, 9, 2), date(2026, 11, 30), 90)
    previous = period.previous()
    assert previous.last == date(2026, 9, 1) and previous.days == 90
    assert period.contains(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    assert not period.contains(datetime(2026, 12, 1, tzinfo=UTC))
    assert period.contains(datetime(2026, 9, 2, tzinfo=UTC))
    assert not period.contains(datetime(2026, 9, 1, 23, 59, tzinfo=UTC))
    assert period.day_keys()[0] == "2026-09-02" and len(period.day_keys()) == 90
    assert day_key(datetime(2026, 9, 2, 23, 0, tzinfo=UTC)) == "2026-09-02"


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), "ends"),
        (date(2000, 1, 1), date(2026, 1, 1), "at most"),
    ],
)
def test_a_period_must_be_in_order_and_not_too_long(first, last, message):
    with pytest.raises(ValueError, match=message):
        Period(first, last)


def test_scorecard_and_trend_pick_each_periods_openings():
    period = Period(date(2026, 1, 5), date(2026, 1, 5))
    earlier = fact(9, opened_at=T0 - timedelta(days=1), state=State.TERMINATED, confirmed_by=None)
    outside = fact(10, opened_at=T0 + timedelta(days=3))
    card = scorecard_of("isv-1", period, [*SAMPLE, earlier, outside], T0, PATIENCE)
    assert card.figures.opened == 6
    # One delivery, terminated without a dispute: completion 0 of 15; confirmation does not
    # apply, so the other 55 points of 70 make 100 × 55 / 70.
    assert card.previous_score == 78.6
    trend = score_trend([*SAMPLE, earlier], [period.previous(), period], T0, PATIENCE)
    assert [score for _, score in trend] == [card.previous_score, card.score.total]


# -- properties over walks the engine really makes --------------------------------------------


@st.composite
def walks(draw):
    process = draw(st.sampled_from(list(ProcessName)))
    walker = Walker(process)
    table = PROCESSES[walker.delivery.process]
    for _ in range(draw(st.integers(0, 14))):
        if walker.delivery.state in (State.COMPLETED, State.TERMINATED):
            break
        options: list[tuple[str, object]] = [
            (row.command, row) for row in table.rows_from(walker.delivery.state)
        ]
        if walker.delivery.dispute_open:
            options = [("resolve_dispute", None), ("terminate", None)]
        elif draw(st.booleans()) and draw(st.booleans()):
            options.append(("open_dispute", None))
        kind, row = draw(st.sampled_from(options))
        advance = timedelta(minutes=draw(st.integers(1, 60 * 24 * 20)))
        if row is None:
            command = {
                "open_dispute": OpenDispute(reason="x"),
                "resolve_dispute": ResolveDispute(outcome="continue"),
                "terminate": Terminate(reason="x"),
            }[kind]
            actor = CUSTOMER if kind == "open_dispute" else ADMIN
            walker.send(command, actor, advance=advance)
        else:
            walker.send(
                sample_command(row.command, walker.delivery, deadline=row.deadline)
                if row.command != "request_changes"
                else RequestChanges(reason="again"),
                PARTIES[row.role.value],
                advance=advance,
            )
    return walker


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walks())
def test_facts_of_any_walk_are_consistent(walker):
    delivery = walker.delivery
    facts = facts_of(delivery)
    assert facts == facts_of(delivery)
    elapsed = (delivery.history[-1].at - delivery.opened_at).total_seconds()
    owned = {s.value for s in ISV_OWNED_STATES[delivery.process]}
    assert set(facts.seconds_in_state) <= owned
    assert all(v >= 0 for v in facts.seconds_in_state.values())
    assert sum(facts.seconds_in_state.values()) + facts.isv_wait_seconds <= elapsed + 1e-6
    assert facts.longest_isv_wait_seconds <= sum(facts.seconds_in_state.values()) + 1e-6
    assert facts.revision_rounds == sum(
        1 for e in delivery.history if e.command == "request_changes"
    )
    assert facts.completed == (delivery.state == State.COMPLETED)
    if facts.completed:
        assert facts.confirmed_by in ("customer", "automatic")
    if facts.isv_waiting_since is not None:
        assert delivery.state.value in owned and not delivery.dispute_open
    score = score_of(figures_of([facts], delivery.history[-1].at, PATIENCE))
    assert score.total is not None and 0 <= score.total <= 100
    points = [c.points for c in score.components if c.points is not None]
    assert sum(points) == pytest.approx(score.total, abs=0.3)


# -- days and periods as asked for --------------------------------------------------------------


@pytest.mark.parametrize("raw", ["2026-11-30", "0001-01-01", "9999-12-31", "2024-02-29"])
def test_a_day_written_yyyy_mm_dd_is_read(raw):
    assert parse_day("from", raw) == date.fromisoformat(raw)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("20261130", "YYYY-MM-DD"),
        ("2026-W48-1", "YYYY-MM-DD"),
        ("2026-11-30T00:00", "YYYY-MM-DD"),
        (" 2026-11-30", "YYYY-MM-DD"),
        ("２０２６-11-30", "YYYY-MM-DD"),
        ("", "YYYY-MM-DD"),
        ("2026-02-30", "not a day of the calendar"),
        ("2025-02-29", "not a day of the calendar"),
        ("2026-13-01", "not a day of the calendar"),
    ],
)
def test_anything_else_is_refused_naming_the_input(raw, words):
    with pytest.raises(PeriodProblem, match=words) as refused:
        parse_day("to", raw)
    assert refused.value.fields == ("to",) and refused.value.message.startswith("to ")


def test_the_requested_period_defaults_to_the_90_days_up_to_today():
    today = date(2026, 11, 30)
    assert requested_period(None, None, today) == Period.ending(today)
    assert requested_period(None, date(2026, 1, 31), today) == Period.ending(date(2026, 1, 31))
    assert requested_period(date(2026, 11, 1), None, today) == Period(date(2026, 11, 1), today)


@pytest.mark.parametrize(
    ("first", "last", "fields", "words"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), ("--to",), "--to (2026-01-31) is before --from"),
        (date(2000, 1, 1), date(2026, 1, 1), ("--from", "--to"), "at most 3660 days"),
        (date(1, 1, 1), date(1, 1, 5), ("--from", "--to"), "before year 1"),
        # Only what the asker gave is named; a default is said as such.
        (None, date(1, 2, 1), ("--to",), "--to (0001-02-01) is too early: the 90 days up to it"),
        (None, date(1, 3, 31), ("--to",), "--to (0001-03-31) is too early"),
        (
            date(2026, 12, 1),
            None,
            ("--from",),
            "--from (2026-12-01) is after today (2026-11-30); give --to as well or an earlier "
            "--from",
        ),
        (
            date(2010, 1, 1),
            None,
            ("--from",),
            "--from (2010-01-01) and today (2026-11-30) span 6178 days; a period covers at most",
        ),
    ],
)
def test_a_period_out_of_bounds_is_refused_in_the_askers_words(first, last, fields, words):
    with pytest.raises(PeriodProblem, match=re.escape(words)) as refused:
        requested_period(first, last, date(2026, 11, 30), ("--from", "--to"))
    assert refused.value.fields == fields
    assert "to (2026-11-30)" not in refused.value.message  # never the default as if given


def test_a_from_before_year_1s_trend_names_from_alone():
    with pytest.raises(PeriodProblem, match=r"from \(0001-01-01\) is too early") as refused:
        requested_period(date(1, 1, 1), None, date(1, 1, 3))
    assert refused.value.fields == ("from",)


@pytest.mark.parametrize(
    ("values", "found", "words"),
    [
        ([], None, None),
        (["2026-11-30"], date(2026, 11, 30), None),
        (["2026-11-30", "2026-11-30"], None, "from is given 2 times; give it once"),
        (["2026-11-30", "x", "y"], None, "from is given 3 times"),
        (["x"], None, "YYYY-MM-DD"),
    ],
)
def test_a_day_is_given_once_or_not_at_all(values, found, words):
    if words is None:
        assert given_day("from", values) == found
    else:
        with pytest.raises(PeriodProblem, match=words) as refused:
            given_day("from", values)
        assert refused.value.fields == ("from",)


@pytest.mark.parametrize(
    ("isv", "words"),
    [
        ("", "no ISV can have the id ''"),
        (".", "neither '.' nor '..'"),
        ("..", "neither '.' nor '..'"),
        ("a\x00", r"'a\x00'"),
        ("\x85", r"'\x85'"),
        ("x" * 201, "'" + "x" * 60 + "'…"),
    ],
)
def test_an_id_no_isv_can_have_is_said_with_its_controls_escaped(isv, words):
    refusal = isv_id_refusal(isv)
    assert refusal is not None and words in refusal and "1 to 200 characters" in refusal
    assert refusal.isprintable()


@pytest.mark.parametrize("isv", ["i-1", "...", "x" * 200, "é ü", "<b>"])
def test_any_actor_id_can_be_an_isv(isv):
    assert isv_id_refusal(isv) is None
