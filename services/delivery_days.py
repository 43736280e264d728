"""Deliveries newest first, served by an index however many deliveries are stored.

FerretDB never pushes a sort down to SQLite: ``find({}, sort=[("updated_at", -1)], limit=50)``
reads and sorts every delivery. So each delivery names the UTC day it was opened and the day
it last changed (``opened_day`` and ``updated_day``, ``"YYYY-MM-DD"`` strings, each with an
index), and the ``delivery_days`` collection holds one record per day on which any delivery
was opened or changed. A listing walks those days newest first, reads one day at a time
through the index, sorts that day and stops once the caller has enough rows. The rows come
out in the same order as one sort of the whole collection: every delivery of a day sorts
before every delivery of an earlier day.

The day fields are bookkeeping: views and listings leave them out (``DAY_FIELDS``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.collection import Collection

OPENED_DAY = "opened_day"
UPDATED_DAY = "updated_day"
#: Stored on every delivery for the listings, never shown.
DAY_FIELDS = (OPENED_DAY, UPDATED_DAY)
#: The day field that serves a listing sorted newest first by each date field.
DAY_FIELD_OF = {"opened_at": OPENED_DAY, "updated_at": UPDATED_DAY}


def day_of(when: datetime) -> str:
    """``"2026-11-30"``: the UTC day of ``when`` (a naive datetime is taken as UTC)."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d")


def day_fields(opened_at: datetime, updated_at: datetime) -> dict[str, str]:
    """The day fields of a delivery: ``{"opened_day": "2026-11-30", "updated_day": ...}``."""
    return {OPENED_DAY: day_of(opened_at), UPDATED_DAY: day_of(updated_at)}


def without_day_fields(projection: Mapping[str, int]) -> dict[str, int]:
    """An excluding projection (``{"history": 0, ...}``) that also leaves out the day fields."""
    return {**projection, **dict.fromkeys(DAY_FIELDS, 0)}


def _newest_day_first(day_ids: list[str]) -> list[str]:
    return sorted(day_ids, reverse=True)


async def newest_first(
    deliveries: AsyncCollection,
    days: AsyncCollection,
    *,
    sort_field: str,
    projection: Mapping[str, int],
) -> AsyncIterator[dict[str, Any]]:
    """Every delivery, newest ``sort_field`` (``opened_at`` or ``updated_at``) first, read one
    day at a time; stop iterating to stop reading. KeyError for another ``sort_field``."""
    day_field = DAY_FIELD_OF[sort_field]
    # The day records are few (one per active day) and read whole on purpose.
    day_ids = [record["_id"] async for record in days.find({}, {"_id": 1})]
    for day in _newest_day_first(day_ids):
        cursor = deliveries.find({day_field: day}, projection, sort=[(sort_field, -1)])
        for document in await cursor.to_list():
            yield document


def newest_first_sync(
    deliveries: Collection,
    days: Collection,
    *,
    sort_field: str,
    projection: Mapping[str, int],
) -> Iterator[dict[str, Any]]:
    """``newest_first`` for a synchronous client (the operators' command line)."""
    day_field = DAY_FIELD_OF[sort_field]
    day_ids = [record["_id"] for record in days.find({}, {"_id": 1})]
    for day in _newest_day_first(day_ids):
        yield from deliveries.find({day_field: day}, projection, sort=[(sort_field, -1)])
