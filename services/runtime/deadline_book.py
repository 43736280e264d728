"""The deadline book: every deadline in MongoDB, filed in hourly buckets by its due time.

A bucket is a collection, ``deadlines_YYYYMMDDHH`` (UTC). The timer worker only reads the
buckets already due (this hour's and any earlier one not yet finished), so a million
deadlines weeks away cost nothing per poll. Each bucket has an index on (status, due_at);
the project's FerretDB serves ``{"status": "active"}`` from it (it never sorts through an
index, so the due ones of a bucket are sorted in memory), MongoDB uses both fields.

A finished bucket is never read again. To keep a late arrival (a relay delayed past the
hour) from being missed, the writer reopens a bucket after filing into it, and the timer
marks a bucket "closing" before its last look: either the look sees the deadline, or the
reopening stops the bucket from being finished.

The book is the one owner of these collections: the workflow hands a deadline over with
``DeadlineBook.file``, the timer worker takes the due ones with ``due_buckets``, ``claim``,
``due`` and ``forget``, operators read with ``active_due_before``; no other module names a
bucket (``tests/unit/test_layout.py`` checks it).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

BUCKET_PREFIX = "deadlines_"
#: One document per bucket: whether it is finished, and which timer worker holds its lease.
BUCKET_STATES = "deadline_buckets"
BUCKET_SPAN = timedelta(hours=1)
#: A bucket is finished this long after its hour ended, once nothing in it is active.
SETTLE_AFTER = timedelta(minutes=2)
_FORMAT = "%Y%m%d%H"


def bucket_of(due_at: datetime) -> str:
    """The bucket (collection name) a deadline due at ``due_at`` (aware) is filed in."""
    return BUCKET_PREFIX + due_at.astimezone(UTC).strftime(_FORMAT)


def bucket_start(name: str) -> datetime:
    """The first moment (UTC) of bucket ``name``'s hour; ValueError for other names."""
    return datetime.strptime(name.removeprefix(BUCKET_PREFIX), _FORMAT).replace(tzinfo=UTC)


def active_due_before(db: Database, until: datetime) -> list[dict[str, Any]]:
    """Active deadlines due at or before ``until`` (overdue ones included), soonest first.

    A synchronous read for operators' reports: it reads every bucket up to ``until``'s,
    finished ones too.

    Parameters:
      db(Database): A synchronous PyMongo database.
      until(datetime): Aware; deadlines due later are left out.

    Returns:
      list[dict]: As filed: ``{_id (the deadline_id), delivery_id, kind, status, due_at}``.
    """
    last = bucket_of(until)
    due = []
    for name in sorted(db.list_collection_names()):
        if name.startswith(BUCKET_PREFIX) and name <= last:
            due += db[name].find({"status": "active", "due_at": {"$lte": until}})
    return sorted(due, key=lambda d: d["due_at"])


class DeadlineBook:
    """The deadline book on one database, for the workflow (``file``) and the timer worker
    (everything else).

    Parameters:
      db(AsyncDatabase): The product's database; buckets are collections in it, their
        states in :data:`BUCKET_STATES`.
    """

    def __init__(self, db: AsyncDatabase):
        self.db = db
        self.states = db[BUCKET_STATES]
        self._indexed: set[str] = set()

    # --- written by the workflow's outbox relay ---------------------------------------------

    async def file(self, deadline: dict[str, Any]) -> None:
        """Record a deadline's new form: ``active`` ones are filed, others settle their entry.

        Idempotent, so a relay retried after a crash may file the same change again.

        Parameters:
          deadline(dict): A deadline outbox entry's ``deadline`` (see
            ``services.workflow.store.outbox_entries``): ``deadline_id``, ``delivery_id``,
            ``kind``, ``status`` (``active``, ``paused``, ``cancelled`` or ``fired``),
            ``due_at`` (aware datetime, or None while paused) and ``filed_at``, the due time
            it was filed under (a paused deadline has no ``due_at`` of its own any more).
            With neither, nothing was ever filed and nothing is done.
        """
        filed_at = deadline.get("due_at") or deadline.get("filed_at")
        if filed_at is None:
            return  # never filed (paused before this book knew it): nothing can fire
        name = bucket_of(filed_at)
        bucket = self.db[name]
        if deadline["status"] != "active":
            await bucket.update_one(
                {"_id": deadline["deadline_id"]}, {"$set": {"status": deadline["status"]}}
            )
            return
        await self._ensure_index(name)
        fields = {
            "delivery_id": deadline["delivery_id"],
            "kind": deadline["kind"],
            "status": "active",
            "due_at": filed_at,
        }
        try:
            await bucket.update_one({"_id": deadline["deadline_id"]}, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            # A concurrent relay inserted it first (an upsert is not atomic on FerretDB).
            await bucket.update_one({"_id": deadline["deadline_id"]}, {"$set": fields})
        await self._reopen(name)

    async def _ensure_index(self, name: str) -> None:
        if name not in self._indexed:
            await self.db[name].create_index([("status", ASCENDING), ("due_at", ASCENDING)])
            self._indexed.add(name)

    async def _reopen(self, name: str) -> None:
        state = await self.states.find_one({"_id": name}, {"state": 1})
        if state is not None and state.get("state", "open") != "open":
            await self.states.update_one({"_id": name}, {"$set": {"state": "open"}})

    # --- read by the timer worker -----------------------------------------------------------

    async def due_buckets(self, now: datetime) -> list[str]:
        """Buckets whose hour has begun and that are not finished, oldest first.

        Parameters:
          now(datetime): Aware; buckets of later hours are left out.

        Returns:
          list[str]: Collection names, ``deadlines_YYYYMMDDHH``.
        """
        current = bucket_of(now)
        names = await self.db.list_collection_names()
        started = {n for n in names if n.startswith(BUCKET_PREFIX) and n <= current}
        if not started:
            return []
        # By _id, through its index: the started buckets are few, the finished states many.
        cursor = self.states.find(
            {"_id": {"$in": sorted(started)}, "state": "finished"}, {"_id": 1}
        )
        finished = {d["_id"] async for d in cursor}
        return sorted(started - finished)

    async def claim(self, name: str, owner: str, now: datetime, lease: timedelta) -> bool:
        """Hold the bucket for ``lease``, so that two timer workers never send it twice.

        A worker may renew its own lease; another's is taken over once expired.

        Parameters:
          name(str): The bucket, as from :meth:`due_buckets`.
          owner(str): The timer worker's id, unique per process.
          now(datetime): Aware; the lease runs to ``now + lease``.
          lease(timedelta): How long the hold lasts without a renewal.

        Returns:
          bool: True if ``owner`` holds the bucket now.
        """
        try:
            held = await self.states.find_one_and_update(
                {
                    "_id": name,
                    "$or": [
                        {"lease_until": None},
                        {"lease_until": {"$lte": now}},
                        {"owner": owner},
                    ],
                },
                {"$set": {"owner": owner, "lease_until": now + lease}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # another worker holds it (or just inserted its state)
        return held is not None

    async def release(self, name: str, owner: str) -> None:
        """Give up ``owner``'s lease on bucket ``name`` at once; no-op if another holds it."""
        await self.states.update_one({"_id": name, "owner": owner}, {"$set": {"lease_until": None}})

    async def due(self, name: str, now: datetime, limit: int) -> list[dict[str, Any]]:
        """The active deadlines of bucket ``name`` due by ``now``, soonest first.

        Parameters:
          name(str): The bucket, held through :meth:`claim`.
          now(datetime): Aware.
          limit(int): At most this many.

        Returns:
          list[dict]: ``{_id (the deadline_id), delivery_id, kind, status, due_at}``.
        """
        cursor = self.db[name].find(
            {"status": "active", "due_at": {"$lte": now}},
            sort=[("due_at", ASCENDING)],
            limit=limit,
        )
        return await cursor.to_list()

    async def forget(self, name: str, deadline_ids: list[str]) -> None:
        """Remove deadlines that were sent; the delivery's history keeps their story.

        One delete of many ids is one pass over the bucket on FerretDB, where an update of
        many would be a pass per id.
        """
        await self.db[name].delete_many({"_id": {"$in": deadline_ids}})

    async def finish_if_settled(self, name: str, now: datetime) -> bool:
        """Finish a past bucket that holds nothing active, unless a late filing reopens it.

        Only once :data:`SETTLE_AFTER` has passed since the bucket's hour ended; a finished
        bucket is dropped and never read again.

        Parameters:
          name(str): The bucket.
          now(datetime): Aware.

        Returns:
          bool: True if this call finished it.
        """
        if bucket_start(name) + BUCKET_SPAN + SETTLE_AFTER > now:
            return False
        await self.states.update_one({"_id": name}, {"$set": {"state": "closing"}}, upsert=True)
        if await self.db[name].find_one({"status": "active"}, {"_id": 1}) is not None:
            await self.states.update_one({"_id": name}, {"$set": {"state": "open"}})
            return False
        done = await self.states.update_one(
            {"_id": name, "state": "closing"}, {"$set": {"state": "finished"}}
        )
        if done.modified_count:
            with contextlib.suppress(Exception):
                await self.db[name].drop()  # nothing in it can ever fire again
        return bool(done.modified_count)
