"""The stream of record: every public event, kept in MongoDB in the order it was recorded, for
a system that was down (``GET /v1/events``) and for replaying webhooks.

The workflow records each event as it relays it (before publishing it on ``dc.events``); a
re-relayed event is recorded once (``_id`` = ``event_id``). Events are read in the order
they were recorded, ``(recorded_at, event_id)``, not the order they occurred: an event whose
relay was cut short is recorded late, and a reader who already passed its occurrence time
still gets it. The patched FerretDB serves only equality on an index's first field and never
sorts through an index, so each event names its UTC hour (``recorded_hour``, indexed) and
``event_hours`` lists the hours that have events: a page reads those hours from its cursor's
on, one at a time through the index, sorting one hour in memory.

A reader sees only events recorded at least :data:`SETTLE` ago, so an insert still in flight
in another process (or a clock a little behind) is not skipped past. Clocks of the workflow
hosts must agree to within that.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.runtime.collections import EVENT_HOURS, EVENTS
from shared.contracts.public_events import PublicEvent, public_event_body

#: How old an event must be before readers see it (seconds of commit and clock slack).
SETTLE = timedelta(seconds=2)


class CursorError(ValueError):
    """A cursor that this log did not make."""


def _hour(moment: datetime) -> str:
    """``"2026-11-30T13"``: the UTC hour of ``moment``, the year always four digits (so hours
    compare as strings; ``strftime("%Y")`` writes year 999 as ``999``)."""
    return moment.astimezone(UTC).isoformat()[:13]


def encode_cursor(recorded_at: datetime, event_id: str) -> str:
    """An opaque cursor: the position just after the event recorded at ``recorded_at``."""
    raw = f"{recorded_at.astimezone(UTC).isoformat()}|{event_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names: (recorded_at, event_id).

    Raises:
      CursorError: ``cursor`` is not one :func:`encode_cursor` made.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = raw.split("|", 1)
        recorded_at = datetime.fromisoformat(moment)
        if recorded_at.tzinfo is None or not event_id:
            raise ValueError("no offset or no event id")
        recorded_at = recorded_at.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError) as error:
        raise CursorError("not a cursor of this event log") from error
    return recorded_at, event_id


class EventLog:
    """The ``events`` collection of one database.

    Parameters:
      db(AsyncDatabase): The product's database.
    """

    def __init__(self, db: AsyncDatabase):
        self.events = db[EVENTS]
        self.hours = db[EVENT_HOURS]

    async def ensure_index(self) -> None:
        """The index the readers' hour-by-hour reads use (creating it again is a no-op)."""
        await self.events.create_index([("recorded_hour", ASCENDING)])

    async def record(self, event: PublicEvent, now: datetime) -> None:
        """Keep ``event`` (once: recording it again changes nothing).

        Parameters:
          event(PublicEvent): As published on ``dc.events``.
          now(datetime): Aware UTC; the event's place in the log.

        Raises:
          pymongo.errors.PyMongoError: The database failed; the relay is retried.
        """
        # Milliseconds: what MongoDB keeps of a datetime, so a cursor compares exactly.
        recorded_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        document = {
            "_id": event.event_id,
            "event_type": event.event_type,
            "recorded_at": recorded_at,
            "recorded_hour": _hour(recorded_at),
            "body": public_event_body(event).decode(),
        }
        # The hour first, so a reader who finds an event also finds its hour. A duplicate:
        # the hour already has events, or the event was recorded by an earlier relay.
        with contextlib.suppress(DuplicateKeyError):
            await self.hours.insert_one({"_id": document["recorded_hour"]})
        with contextlib.suppress(DuplicateKeyError):
            await self.events.insert_one(document)

    async def read(
        self, after: tuple[datetime, str] | None, limit: int, now: datetime
    ) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
        """Up to ``limit`` events recorded after the position ``after`` (None: from the
        first), in recorded order, and the position of the last one returned (or ``after``
        when none is new).

        Parameters:
          after(tuple[datetime, str] | None): A position from :func:`decode_cursor`.
          limit(int): At most this many events, at least 1.
          now(datetime): Aware UTC; only events recorded :data:`SETTLE` before it are read.

        Returns:
          tuple: The events as ``{event_type, recorded_at, body}`` documents (``body`` the
          JSON string published), and the position to continue from.
        """
        until = now - SETTLE
        first, last = (_hour(after[0]) if after else ""), _hour(until)
        # One small document per hour that has events: a page skips empty hours, however
        # long the log was quiet, and never reads the events collection to find its start.
        hours = sorted(
            [
                hour["_id"]
                async for hour in self.hours.find({}, {"_id": 1})
                if first <= hour["_id"] <= last
            ]
        )
        found: list[dict[str, Any]] = []
        position = after
        for hour in hours:
            if len(found) >= limit:
                break
            rows = [
                row
                async for row in self.events.find({"recorded_hour": hour})
                if row["recorded_at"] <= until
                and (position is None or (row["recorded_at"], row["_id"]) > position)
            ]
            rows.sort(key=lambda row: (row["recorded_at"], row["_id"]))
            for row in rows[: limit - len(found)]:
                found.append(row)
                position = (row["recorded_at"], row["_id"])
        return found, position
