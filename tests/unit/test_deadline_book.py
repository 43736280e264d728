"""Hourly buckets of the deadline book: naming and order are pure functions of the due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.runtime.deadline_book import BUCKET_SPAN, bucket_of, bucket_start

moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def test_a_deadline_is_filed_under_its_utc_hour():
    due = datetime(2026, 12, 9, 10, 59, 59, tzinfo=UTC)
    assert bucket_of(due) == "deadlines_2026120910"
    assert bucket_start("deadlines_2026120910") == datetime(2026, 12, 9, 10, tzinfo=UTC)


def test_the_bucket_does_not_depend_on_the_time_zone_it_is_written_in():
    due = datetime(2026, 12, 9, 18, 30, tzinfo=timezone(timedelta(hours=8)))
    assert bucket_of(due) == "deadlines_2026120910"


@given(moments)
def test_every_moment_lies_inside_its_bucket(due: datetime):
    start = bucket_start(bucket_of(due))
    assert start <= due < start + BUCKET_SPAN


@given(moments, moments)
def test_bucket_names_sort_like_their_hours(a: datetime, b: datetime):
    if a <= b:
        assert bucket_of(a) <= bucket_of(b)
