"""Read-only reports on deliveries and deadlines, straight from the database."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database

from services.runtime.collections import DELIVERIES, DELIVERY_DAYS, LIST_PROJECTION
from services.runtime.deadline_book import active_due_before
from services.runtime.delivery_days import newest_first_sync
from shared.domain.delivery import past_due


def find_delivery(db: Database, delivery_id: str) -> dict[str, Any] | None:
    """The stored delivery document (bookkeeping included, outbox left out), or None."""
    return db[DELIVERIES].find_one({"_id": delivery_id}, {"outbox": 0})


def list_deliveries(
    db: Database, *, state: str | None, overdue: bool, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """Deliveries, the most recently opened first, without history, refusals and stages.

    The deliveries are read day by day (``newest_first_sync``), so the usual short list costs
    a few days' reads, not the whole collection.

    Parameters:
      db(Database): A synchronous PyMongo database.
      state(str | None): Only deliveries in this state (a ``State`` value).
      overdue(bool): Only those with an active deadline already past due at ``now``.
      now(datetime): Aware.
      limit(int): At most this many.

    Returns:
      list[dict]: The stored documents.
    """
    projection = LIST_PROJECTION
    candidates = newest_first_sync(
        db[DELIVERIES],
        db[DELIVERY_DAYS],
        sort_field="opened_at",
        projection=projection,
        where={"state": state} if state else None,
    )
    found = []
    for document in candidates:
        if overdue and not any(past_due(d, now) for d in document.get("deadlines", [])):
            continue
        found.append(document)
        if len(found) >= limit:
            break
    return found


def deadlines_due(db: Database, now: datetime, within: timedelta) -> list[dict[str, Any]]:
    """Active deadlines due before ``now + within`` (overdue ones included), soonest first."""
    return active_due_before(db, now + within)


def stats(db: Database) -> dict[str, Any]:
    """Counts per process and state, and the median time spent in each state.

    Returns:
      dict: ``{"counts": {(process, state): int}, "median_seconds_in_state": {state:
      float}}``; a state's time runs from the history entry entering it to the next entry
      that leaves it, in seconds.

    Reads every delivery (its process, state and history) on purpose: the figures are about
    all of them, and no index makes a full read cheaper. An operator's occasional report, never
    a request path.
    """
    counts: Counter[tuple[str, str]] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    for document in db[DELIVERIES].find({}, {"process": 1, "state": 1, "history": 1}):
        counts[(document["process"], document["state"])] += 1
        history = document.get("history", [])
        for entered, left in zip(history, history[1:], strict=False):
            if entered["to_state"] != left["to_state"]:
                seconds = (left["at"] - entered["at"]).total_seconds()
                durations[entered["to_state"]].append(seconds)
    return {
        "counts": dict(sorted(counts.items())),
        "median_seconds_in_state": {
            state: statistics.median(values) for state, values in sorted(durations.items())
        },
    }
