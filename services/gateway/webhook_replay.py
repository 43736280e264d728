"""Replaying events to a webhook endpoint (``POST /v1/webhooks/{id}/replay?since=``): each
event of the stream of record (``services.runtime.event_log``) recorded at or after ``since``
whose type the endpoint subscribes to is queued again in ``WEBHOOK_DELIVERIES``, pending and
due now, so the notifier's dispatcher sends it again (its earlier attempts stay in the log).

One call walks at most :data:`MAX_REPLAY` events of the log; when more are left it says from
when to go on (``next_since``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.gateway.errors import HttpError
from services.runtime.collections import WEBHOOK_DELIVERIES
from services.runtime.event_log import EventLog

#: Events of the log one replay walks at most (subscribed to or not).
MAX_REPLAY = 10_000
#: Events read from the log per page.
_PAGE = 500
#: RFC 3339 ``date-time``: a full date, a time and an offset (``Z`` or ``+hh:mm``).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DUPLICATE_KEY = 11000


def since_query(raw: str | None) -> datetime:
    """The ``since`` query parameter as an aware datetime; 400 ``invalid_query`` when it is
    missing or not an RFC 3339 date-time with an offset."""
    problem = "since must be an RFC 3339 date-time with an offset, e.g. 2025-01-31T09:00:00Z"
    if raw is None:
        raise HttpError(400, "invalid_query", f"{problem}; it is missing")
    if not _RFC3339.fullmatch(raw):
        hint = " (a + in a query string must be sent as %2B)" if " " in raw else ""
        raise HttpError(400, "invalid_query", f"{problem}{hint}")
    try:
        return datetime.fromisoformat(raw.upper().replace(" ", "T")).astimezone(UTC)
    except (ValueError, OverflowError) as failure:
        raise HttpError(400, "invalid_query", f"{problem}: {failure}") from failure


@dataclass(frozen=True)
class Replayed:
    """What one replay did: how many deliveries it queued, and, when it stopped at
    :data:`MAX_REPLAY` with events left, the ``since`` to go on from."""

    queued: int
    next_since: datetime | None


async def replay(
    db: AsyncDatabase, webhook_id: str, event_types: Collection[str], since: datetime, now: datetime
) -> Replayed:
    """Queue again, for endpoint ``webhook_id``, every logged event of ``event_types``
    recorded at or after ``since`` (at most :data:`MAX_REPLAY` walked), due at ``now``.

    Only events readable at ``now`` are walked (``event_log.SETTLE``). An event's delivery
    (``_id`` ``<webhook_id>:<event_id>``) becomes ``pending`` with ``created_at`` and
    ``next_attempt_at`` ``now``; its earlier attempts are kept.
    """
    log = EventLog(db)
    # read() returns events after a position, comparing (recorded_at, event_id): an event
    # recorded at ``since`` itself comes after (since, "") as its id is never empty.
    position: tuple[datetime, str] | None = (since, "")
    walked = queued = 0
    while walked < MAX_REPLAY:
        rows, position = await log.read(position, min(_PAGE, MAX_REPLAY - walked), now)
        if not rows:
            return Replayed(queued, None)
        walked += len(rows)
        wanted = [row for row in rows if row["event_type"] in event_types]
        queued += await _queue(db, webhook_id, wanted, now)
    more, _ = await log.read(position, 1, now)
    # From the first event not walked: the next call walks again those recorded in the same
    # millisecond before it, queueing them once more, which a receiver deduplicates by id.
    return Replayed(queued, more[0]["recorded_at"] if more else None)


async def _queue(db: AsyncDatabase, webhook_id: str, rows: list[dict], now: datetime) -> int:
    """Make each logged event in ``rows`` a pending delivery to ``webhook_id``, due ``now``:
    those queued before are updated (keeping their attempts), the others inserted. No upsert:
    FerretDB ignores ``$setOnInsert``."""
    if not rows:
        return 0
    pending = {
        f"{webhook_id}:{row['_id']}": {
            "webhook_id": webhook_id,
            "event_id": row["_id"],
            "event_type": row["event_type"],
            "body": row["body"],
            "status": "pending",
            "created_at": now,
            "next_attempt_at": now,
        }
        for row in rows
    }
    deliveries = db[WEBHOOK_DELIVERIES]
    known = {d["_id"] async for d in deliveries.find({"_id": {"$in": list(pending)}}, {"_id": 1})}
    fresh = [key for key in pending if key not in known]
    if fresh:
        try:
            await deliveries.insert_many(
                [{"_id": key, **pending[key], "attempts": []} for key in fresh], ordered=False
            )
        except BulkWriteError as failure:
            errors = failure.details.get("writeErrors", [])
            if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                raise
            # The notifier queued some of them meanwhile: set every one as the others (the
            # same fields again for those just inserted).
            known.update(fresh)
    if known:
        await deliveries.bulk_write(
            [UpdateOne({"_id": key}, {"$set": pending[key]}) for key in known], ordered=False
        )
    return len(rows)
