"""The event log's cursors: a position survives the round trip, in UTC, and anything the log did
not make is refused with ``CursorError``, never another error."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.runtime.event_log import CursorError, decode_cursor, encode_cursor


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("recorded_at", "event_id"),
    [
        (datetime(2025, 3, 1, 12, 30, 5, 123000, tzinfo=UTC), "evt-1"),
        (datetime(2025, 3, 1, 0, 0, tzinfo=UTC), "a|b:c with spaces ü"),
        (datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))), "x"),
    ],
)
def test_a_cursor_names_the_position_it_was_made_from(recorded_at, event_id):
    cursor = encode_cursor(recorded_at, event_id)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    decoded = decode_cursor(cursor)
    assert decoded == (recorded_at, event_id)
    assert decoded[0].utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "!!!!",
        "%%%",
        _raw("no separator"),
        _raw("2025-03-01T12:00:00+00:00|"),
        _raw("2025-03-01T12:00:00|evt-1"),
        _raw("not a time|evt-1"),
        _raw("0001-01-01T00:00:00+01:00|evt-1"),
        base64.urlsafe_b64encode(b"\xff\xfe|\x80").decode(),
    ],
)
def test_anything_else_is_refused_as_a_cursor(cursor):
    with pytest.raises(CursorError):
        decode_cursor(cursor)
