"""``services.runtime.scorecards``: a delivery's facts as one line of its day's text (its id
and JSON), read back exactly (the read model stores lines, not a field per fact: see the
module's "One text per day"), and the day keys of a span longer than one ``Period``;
``facts_of`` gives the same facts for a delivery and for it read back from the database (the
relay's and the rebuild's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import bson
import pytest
from bson.codec_options import CodecOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime.scorecards import _day_keys, _lines_of, facts_from_line, facts_line
from shared.domain.delivery import Delivery
from shared.domain.delivery_facts import DeliveryFacts, facts_of
from shared.domain.score_periods import MAX_PERIOD_DAYS, Period
from shared.domain.states import ProcessName, State

from .test_scorecard import SAMPLE, walks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walks())
def test_the_facts_of_any_walk_read_back_exactly(walker):
    facts = facts_of(walker.delivery)
    line = facts_line(facts)
    assert "\n" not in line
    assert facts_from_line(line) == facts


@pytest.mark.parametrize("facts", SAMPLE)
def test_hand_made_facts_read_back_exactly(facts: DeliveryFacts):
    assert facts_from_line(facts_line(facts)) == facts


def test_odd_values_read_back_exactly():
    odd = DeliveryFacts(
        delivery_id="f" * 32,
        isv_id="isv with spaces|and a bar",
        process=ProcessName.STEPWISE,
        opened_at=datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        version=10**9,
        state=State.DEVELOPMENT_TESTING,
        confirmed_by="automatic",
        disputed=True,
        terminated_after_dispute=True,
        revision_rounds=7,
        warranty_requests=3,
        seconds_in_state={"functional_design": 0.1 + 0.2, "ued": 1e-7, "development_testing": 0.0},
        seconds_in_stage={"functional_design": 123456789.123456},
        longest_isv_wait_seconds=1 / 3,
        isv_wait_seconds=2.5e10,
        isv_waiting_since=datetime(2026, 11, 30, 12, 0, 0, 1, tzinfo=UTC),
    )
    line = facts_line(odd)
    assert facts_from_line(line) == odd
    assert line.split(" ")[0] == "f" * 32


def test_a_delivery_id_with_white_space_is_refused():
    with pytest.raises(ValueError, match="white space"):
        facts_line(SAMPLE[0].model_copy(update={"delivery_id": "a b"}))


@pytest.mark.parametrize(
    "line",
    ["abc 1 basic", "", "x", f"{'a' * 32} {{}}", f"{'b' * 32} " + SAMPLE[0].model_dump_json()],
)
def test_a_malformed_line_is_refused(line):
    with pytest.raises(ValueError):
        facts_from_line(line)


def test_a_day_document_is_read_as_lines_by_delivery_id():
    text = {"isv_id": "isv-1", "facts": "\n".join(facts_line(f) for f in SAMPLE[:3])}
    lines = _lines_of(text)
    assert list(lines) == [f.delivery_id for f in SAMPLE[:3]]
    assert [facts_from_line(line) for line in lines.values()] == SAMPLE[:3]


def test_a_period_and_the_one_before_it_may_span_more_than_one_period():
    """The longest period's scorecard also reads the period before it: twice as many days as
    a ``Period`` may have (this raised ValueError, a 500, before)."""
    period = Period(date(2016, 1, 1), date(2016, 1, 1) + timedelta(days=MAX_PERIOD_DAYS - 1))
    keys = _day_keys(period.previous().first, period.last)
    assert len(keys) == 2 * MAX_PERIOD_DAYS
    assert keys[0] == period.previous().first.isoformat() and keys[-1] == period.last.isoformat()
    assert _day_keys(date(2026, 1, 2), date(2026, 1, 1)) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walks(), st.integers(0, 999_999))
def test_the_facts_of_a_delivery_are_those_of_it_read_back_from_the_database(walker, micros):
    """The workflow reads the facts of the delivery it has just changed (its newest entry to
    the microsecond); a rebuild reads them from the stored delivery, whose times BSON keeps to
    the millisecond: the two must be the same facts (they differed by up to 1 ms before)."""
    delivery = walker.delivery
    last = delivery.history[-1]
    newest = last.model_copy(update={"at": last.at + timedelta(microseconds=micros)})
    fresh = delivery.model_copy(update={"history": [*delivery.history[:-1], newest]})
    options = CodecOptions(tz_aware=True, tzinfo=UTC)
    stored = Delivery.model_validate(bson.decode(bson.encode(fresh.model_dump()), options))
    assert stored != fresh or micros % 1000 == 0
    assert facts_of(stored) == facts_of(fresh)
