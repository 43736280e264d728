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
#: Lists that name a state or an ISV walk the days through one key per (value, day), such as
#: ``"completed/2026-11-30"``: each day's read then returns only the rows listed, so a common
#: state or a large ISV costs its newest rows, not all of them. Keyed by (field, sort field).
PARTITIONED_DAY = {
    ("isv_id", "opened_at"): "isv_opened_day",
    ("state", "opened_at"): "state_opened_day",
    ("state", "updated_at"): "state_updated_day",
}
#: Stored on every delivery for the listings, never shown.
DAY_FIELDS = (OPENED_DAY, UPDATED_DAY, *PARTITIONED_DAY.values())
#: The day field that serves a listing sorted newest first by each date field.
DAY_FIELD_OF = {"opened_at": OPENED_DAY, "updated_at": UPDATED_DAY}
#: A filtered list with fewer matches than this reads them all through the filter's own index
#: and sorts them in memory: cheaper than probing every day for a rare state or a small ISV.
SMALL_LIST = 500


def day_of(when: datetime) -> str:
    """``"2026-11-30"``: the UTC day of ``when`` (aware, as every stored time is)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def day_fields(
    opened_at: datetime, updated_at: datetime, *, state: str, isv_id: str
) -> dict[str, str]:
    """The listing fields of a delivery: ``{"opened_day": "2026-11-30", ...,
    "state_opened_day": "completed/2026-11-30", ...}`` (every name in ``DAY_FIELDS``)."""
    days = {"opened_at": day_of(opened_at), "updated_at": day_of(updated_at)}
    values = {"state": state, "isv_id": isv_id}
    return {
        OPENED_DAY: days["opened_at"],
        UPDATED_DAY: days["updated_at"],
        **{
            name: f"{values[field]}/{days[sort_field]}"
            for (field, sort_field), name in PARTITIONED_DAY.items()
        },
    }


def listed_days(fields: Mapping[str, str]) -> set[str]:
    """The days that ``day_fields`` names, to be recorded in ``delivery_days``."""
    return {fields[OPENED_DAY], fields[UPDATED_DAY]}


def without_day_fields(projection: Mapping[str, int]) -> dict[str, int]:
    """An excluding projection (``{"history": 0, ...}``) that also leaves out the day fields."""
    return {**projection, **dict.fromkeys(DAY_FIELDS, 0)}


def _newest_day_first(day_ids: list[str]) -> list[str]:
    return sorted(day_ids, reverse=True)


def _day_filter(where: Mapping[str, str], sort_field: str, day: str) -> dict[str, str]:
    """The filter that reads ``day``'s rows of a list, its indexed key first (FerretDB pushes
    the first indexed equality down to SQLite; the rest is checked on the rows it returns)."""
    for (field, partitioned_by), name in PARTITIONED_DAY.items():
        if partitioned_by == sort_field and field in where:
            return {name: f"{where[field]}/{day}", **where}
    return {DAY_FIELD_OF[sort_field]: day, **where}


async def newest_first(
    deliveries: AsyncCollection,
    days: AsyncCollection,
    *,
    sort_field: str,
    projection: Mapping[str, int],
    where: Mapping[str, str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The deliveries matching ``where``, newest first, read one day at a time.

    Stop iterating to stop reading.

    Parameters:
      deliveries(AsyncCollection): The ``deliveries`` collection.
      days(AsyncCollection): The ``delivery_days`` collection.
      sort_field(str): ``opened_at`` or ``updated_at``.
      projection(Mapping[str, int]): As for ``find``; see :func:`without_day_fields`.
      where(Mapping[str, str] | None): ``{}``, or equalities on ``state`` and/or ``isv_id``.

    Returns:
      AsyncIterator[dict]: The projected documents.

    Raises:
      KeyError: For another ``sort_field``.
    """
    where = dict(where or {})
    if where:
        few = await deliveries.find(where, {"_id": 1}, limit=SMALL_LIST).to_list()
        if len(few) < SMALL_LIST:
            for document in await deliveries.find(
                where, projection, sort=[(sort_field, -1)]
            ).to_list():
                yield document
            return
    # The day records are few (one per active day) and read whole on purpose.
    day_ids = [record["_id"] async for record in days.find({}, {"_id": 1})]
    for day in _newest_day_first(day_ids):
        cursor = deliveries.find(
            _day_filter(where, sort_field, day), projection, sort=[(sort_field, -1)]
        )
        for document in await cursor.to_list():
            yield document


def newest_first_sync(
    deliveries: Collection,
    days: Collection,
    *,
    sort_field: str,
    projection: Mapping[str, int],
    where: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """``newest_first`` for a synchronous client (the operators' command line)."""
    where = dict(where or {})
    if where and len(list(deliveries.find(where, {"_id": 1}, limit=SMALL_LIST))) < SMALL_LIST:
        yield from deliveries.find(where, projection, sort=[(sort_field, -1)])
        return
    day_ids = [record["_id"] for record in days.find({}, {"_id": 1})]
    for day in _newest_day_first(day_ids):
        yield from deliveries.find(
            _day_filter(where, sort_field, day), projection, sort=[(sort_field, -1)]
        )
