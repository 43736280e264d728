"""The delivery documents in MongoDB: compare-and-set writes with the outbox in the same document.

MongoDB-protocol servers without multi-document transactions (FerretDB 1.24) still
update one document atomically, so a transition, its events and its deadline changes
are written together, and relayed afterwards.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.runtime.collections import (
    BOOKKEEPING_FIELDS,
    COMMAND_OUTCOMES,
    DELIVERIES,
    DELIVERY_DAYS,
    HAS_OUTBOX,
    MIGRATIONS,
)
from services.runtime.delivery_days import UPDATED_DAY, day_fields, listed_days
from services.runtime.party_lists import LIST_FIELD, list_fields, list_fields_of
from shared.domain.actions import Situation
from shared.domain.delivery import Delivery, RefusedEntry
from shared.domain.engine import Applied
from shared.domain.roles import Role
from shared.domain.scorecard import facts_of
from shared.domain.states import State

#: The record in ``migrations`` saying that deliveries stored before ``HAS_OUTBOX`` existed
#: were flagged (see ``DeliveryStore.flag_outboxes_stored_before_the_flag``).
OUTBOX_FLAG_MIGRATION = "has_outbox_backfilled"
#: The record in ``migrations`` saying that deliveries stored before their day fields existed
#: were given them (see ``DeliveryStore.date_deliveries_stored_before_the_days``).
DAYS_MIGRATION = "delivery_days_backfilled"
#: The record in ``migrations`` saying that deliveries stored before their list fields existed
#: were given them (see ``DeliveryStore.place_deliveries_stored_before_the_lists``).
LISTS_MIGRATION = "party_lists_backfilled"
#: The record in ``migrations`` saying that the deliveries in their warranty were placed in the
#: parties' lists again, now that a warranty request awaiting the ISV is the ISV's turn (see
#: ``DeliveryStore.place_warranty_requests_anew``).
WARRANTY_LISTS_MIGRATION = "party_lists_warranty_requests"
#: Deliveries a migration writes at once: each write holds the collection's lock briefly.
MIGRATION_BATCH = 500


def _listing_fields(delivery: Delivery) -> dict[str, str]:
    """The day fields (``delivery_days``) and the parties' list fields (``party_lists``)."""
    return {
        **day_fields(
            delivery.opened_at,
            delivery.updated_at,
            state=delivery.state.value,
            isv_id=delivery.isv_id,
        ),
        **list_fields(
            situation=Situation.of(delivery),
            customer_id=delivery.customer_id,
            isv_id=delivery.isv_id,
            updated_at=delivery.updated_at,
        ),
    }


class Conflict(Exception):
    """Someone else wrote the delivery since we read it; read again and retry."""


class StoredDelivery:
    """A delivery as read, with the revision a compare-and-set write must match.

    Parameters:
      document(dict): A ``deliveries`` document; bookkeeping fields (``revision``,
        ``outbox``, the outbox flag, the day fields) are kept apart from the delivery.

    Raises:
      pydantic.ValidationError: The document is not a valid delivery.
    """

    def __init__(self, document: dict[str, Any]):
        self.revision: int = document["revision"]
        self.outbox: list[dict[str, Any]] = document.get("outbox", [])
        self.delivery = Delivery.model_validate(
            {k: v for k, v in document.items() if k not in BOOKKEEPING_FIELDS}
        )


def outbox_entries(applied: Applied, before: Delivery | None = None) -> list[dict[str, Any]]:
    """The events and deadline changes to relay, as stored in the document's ``outbox``.

    Parameters:
      applied(Applied): The engine's decision.
      before(Delivery | None): The delivery before it; None for a new one.

    Returns:
      list[dict]: ``{"entry_id": "event:<event_id>", "event": {...}}`` per event, then
      ``{"entry_id": "deadline:<deadline_id>:<version>", "deadline": {...}}`` per deadline
      change: the deadline's fields plus ``delivery_id``, ``version`` and ``filed_at``, the
      due time it was filed under (a paused one no longer has one of its own); then
      ``{"entry_id": "scorecard:<delivery_id>:<version>", "scorecard": {...}}``, the
      delivery's scorecard facts (``shared.domain.scorecard.facts_of``).
    """
    entries = [{"entry_id": f"event:{e.event_id}", "event": e.model_dump()} for e in applied.events]
    version = applied.delivery.version
    filed = {d.deadline_id: d.due_at for d in (before.deadlines if before else [])}
    entries += [
        {
            "entry_id": f"deadline:{d.deadline_id}:{version}",
            "deadline": {
                **d.model_dump(),
                "delivery_id": applied.delivery.delivery_id,
                "version": version,
                "filed_at": d.due_at or filed.get(d.deadline_id),
            },
        }
        for d in applied.deadline_changes
    ]
    # The scorecard's read model (``services.runtime.scorecards``), filed by version.
    entries.append(
        {
            "entry_id": f"scorecard:{applied.delivery.delivery_id}:{version}",
            "scorecard": facts_of(applied.delivery).model_dump(mode="json"),
        }
    )
    return entries


class DeliveryStore:
    """The workflow's reads and writes of ``deliveries``, ``command_outcomes``,
    ``delivery_days`` and ``migrations``.

    Every write of a delivery is one compare-and-set on its ``revision`` (one document is
    updated atomically on MongoDB, and on FerretDB with the project's patches).

    Parameters:
      db(AsyncDatabase): The product's database.
    """

    def __init__(self, db: AsyncDatabase):
        self.deliveries = db[DELIVERIES]
        self.outcomes = db[COMMAND_OUTCOMES]
        self.migrations = db[MIGRATIONS]
        self.days = db[DELIVERY_DAYS]
        #: Days already in ``delivery_days``, so that only a day's first write records it.
        self._recorded_days: set[str] = set()

    async def load(self, delivery_id: str) -> StoredDelivery | None:
        """The delivery ``delivery_id`` with its revision and outbox; None if there is none."""
        document = await self.deliveries.find_one({"_id": delivery_id})
        return StoredDelivery(document) if document else None

    async def create(self, applied: Applied) -> list[dict[str, Any]]:
        """Insert a new delivery at revision 1, with its outbox.

        Parameters:
          applied(Applied): ``open_delivery``'s decision.

        Returns:
          list[dict]: The outbox written (see :func:`outbox_entries`), for the relay.

        Raises:
          Conflict: A delivery with that id exists already.
        """
        outbox = outbox_entries(applied)
        days = _listing_fields(applied.delivery)
        document = {
            "_id": applied.delivery.delivery_id,
            **applied.delivery.model_dump(),
            **days,
            "revision": 1,
            "outbox": outbox,
            HAS_OUTBOX: bool(outbox),
        }
        for day in listed_days(days):
            await self._record_day(day)
        try:
            await self.deliveries.insert_one(document)
        except DuplicateKeyError as error:
            raise Conflict(applied.delivery.delivery_id) from error
        return outbox

    async def save_applied(self, stored: StoredDelivery, applied: Applied) -> list[dict[str, Any]]:
        """Write the new delivery and its outbox if nobody wrote it since ``stored`` was read.

        The caller relays ``stored.outbox`` first, so the new outbox replaces it.

        Parameters:
          stored(StoredDelivery): The delivery as read before deciding.
          applied(Applied): The engine's decision on it.

        Returns:
          list[dict]: The outbox written (see :func:`outbox_entries`), for the relay.

        Raises:
          Conflict: The revision moved since ``stored`` was read; nothing was written.
        """
        outbox = outbox_entries(applied, stored.delivery)
        # All of them, so that a delivery stored before they existed gets them whole.
        days = _listing_fields(applied.delivery)
        for day in listed_days(days):
            await self._record_day(day)
        result = await self.deliveries.update_one(
            {"_id": applied.delivery.delivery_id, "revision": stored.revision},
            {
                "$set": {
                    **applied.delivery.model_dump(),
                    **days,
                    "revision": stored.revision + 1,
                    "outbox": outbox,
                    HAS_OUTBOX: bool(outbox),
                }
            },
        )
        if result.matched_count == 0:
            raise Conflict(applied.delivery.delivery_id)
        return outbox

    async def _record_day(self, day: str) -> None:
        """Put ``day`` in ``delivery_days`` before a delivery names it: a listing that walks
        the days then never misses a delivery (a day recorded by a write that then failed
        only costs the listing one empty read)."""
        if day in self._recorded_days:
            return
        with contextlib.suppress(DuplicateKeyError):
            await self.days.insert_one({"_id": day})
        self._recorded_days.add(day)

    async def date_deliveries_stored_before_the_days(self, now: datetime) -> int:
        """Give the deliveries stored before ``opened_day`` and ``updated_day`` existed those
        fields, and record their days, so that the newest-first lists (which walk the days)
        show them; returns how many were dated.

        It scans the deliveries, so it runs once per database: a record in ``migrations``
        says it was done (two processes starting together may both run it, harmlessly).
        Workflow processes of a version before the day fields must be stopped first.
        """
        if await self.migrations.find_one({"_id": DAYS_MIGRATION}) is not None:
            return 0
        dated = 0
        # The read takes no lock; each write below is one short compare-and-set, so
        # commands go on while a large collection is being dated.
        undated = self.deliveries.find(
            {UPDATED_DAY: {"$exists": False}},
            {"opened_at": 1, "updated_at": 1, "state": 1, "isv_id": 1},
        )
        async for document in undated:
            days = day_fields(
                document["opened_at"],
                document["updated_at"],
                state=document["state"],
                isv_id=document["isv_id"],
            )
            for day in listed_days(days):
                await self._record_day(day)
            # A command written since the read dated it already, with a newer updated_day.
            result = await self.deliveries.update_one(
                {"_id": document["_id"], UPDATED_DAY: {"$exists": False}}, {"$set": days}
            )
            dated += result.modified_count
        with contextlib.suppress(DuplicateKeyError):
            await self.migrations.insert_one(
                {"_id": DAYS_MIGRATION, "done_at": now, "dated": dated}
            )
        return dated

    async def place_deliveries_stored_before_the_lists(self, now: datetime) -> int:
        """Give the deliveries stored before the parties' list fields existed (``customer_list``,
        ``isv_list``: ``services.runtime.party_lists``) those fields, so that each party's
        ``/me`` lists them; returns how many were placed.

        It scans the deliveries, so it runs once per database: a record in ``migrations``
        says it was done (two processes starting together may both run it, harmlessly).
        Workflow processes of a version before the list fields must be stopped first.
        """
        if await self.migrations.find_one({"_id": LISTS_MIGRATION}) is not None:
            return 0
        # Both fields are always written together: one of them missing marks the rest.
        unplaced = {LIST_FIELD[Role.ISV]: {"$exists": False}}
        placed = 0
        # The read takes no lock; each write below is one short update, so commands go on.
        candidates = self.deliveries.find(
            unplaced,
            {
                "process": 1,
                "state": 1,
                "dispute": 1,
                "customer_id": 1,
                "isv_id": 1,
                "updated_at": 1,
            },
            batch_size=MIGRATION_BATCH,
        )
        async for document in candidates:
            # A command written since the read placed it already, by its newer state.
            result = await self.deliveries.update_one(
                {"_id": document["_id"], **unplaced}, {"$set": list_fields_of(document)}
            )
            placed += result.modified_count
        with contextlib.suppress(DuplicateKeyError):
            await self.migrations.insert_one(
                {"_id": LISTS_MIGRATION, "done_at": now, "placed": placed}
            )
        return placed

    async def place_warranty_requests_anew(self, now: datetime) -> int:
        """Place the deliveries in their warranty in the parties' lists again, by the rule of
        ``shared.domain.actions.whose_turn`` that a warranty request awaiting the ISV is the
        ISV's turn (before it, such a delivery was placed as waiting for the customer);
        returns how many moved.

        Once per database (a record in ``migrations``), like
        :meth:`place_deliveries_stored_before_the_lists`: the deliveries in ``in_warranty``
        are one indexed equality; those whose fields already say where they stand are left.
        """
        if await self.migrations.find_one({"_id": WARRANTY_LISTS_MIGRATION}) is not None:
            return 0
        fields = ("process", "dispute", "warranty_requests", "customer_id", "isv_id")
        candidates = self.deliveries.find(
            {"state": State.IN_WARRANTY.value},
            dict.fromkeys((*fields, "state", "updated_at", *LIST_FIELD.values()), 1),
            batch_size=MIGRATION_BATCH,
        )
        moved = 0
        async for document in candidates:
            placed = list_fields_of(document)
            if all(document.get(name) == value for name, value in placed.items()):
                continue
            # Only if unchanged since the read: a command written since placed it itself.
            result = await self.deliveries.update_one(
                {"_id": document["_id"], "updated_at": document["updated_at"]}, {"$set": placed}
            )
            moved += result.modified_count
        with contextlib.suppress(DuplicateKeyError):
            await self.migrations.insert_one(
                {"_id": WARRANTY_LISTS_MIGRATION, "done_at": now, "moved": moved}
            )
        return moved

    async def save_refusal(self, stored: StoredDelivery, entry: RefusedEntry) -> None:
        """Append ``entry`` to the delivery's refusals; the rest of the delivery is unchanged.

        Raises:
          Conflict: The revision moved since ``stored`` was read; nothing was written.
        """
        result = await self.deliveries.update_one(
            {"_id": stored.delivery.delivery_id, "revision": stored.revision},
            {
                "$set": {"revision": stored.revision + 1},
                "$push": {"refusals": entry.model_dump()},
            },
        )
        if result.matched_count == 0:
            raise Conflict(stored.delivery.delivery_id)

    async def mark_relayed(self, delivery_id: str, entries: list[dict[str, Any]]) -> None:
        """Drop relayed entries; entries added meanwhile by a newer command stay."""
        await self.deliveries.update_one({"_id": delivery_id}, {"$pullAll": {"outbox": entries}})
        await self.lower_outbox_flag(delivery_id)

    async def lower_outbox_flag(self, delivery_id: str) -> None:
        """Lower ``HAS_OUTBOX`` if the outbox is empty at this moment: each update is atomic,
        so a newer command's outbox written just before keeps the flag raised."""
        await self.deliveries.update_one(
            {"_id": delivery_id, "outbox": []}, {"$set": {HAS_OUTBOX: False}}
        )

    async def with_pending_outbox(self, older_than: datetime, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` ``{_id, outbox}`` of deliveries last written before ``older_than``
        whose outbox is not relayed yet. Served by the index on ``HAS_OUTBOX``, so a sweep
        reads the few flagged deliveries, not every delivery (the outbox itself is not
        indexable: FerretDB serves only equality on strings, ObjectIds and booleans)."""
        cursor = self.deliveries.find(
            {HAS_OUTBOX: True, "updated_at": {"$lt": older_than}},
            {"_id": 1, "outbox": 1},
            limit=limit,
        )
        return await cursor.to_list()

    async def flag_outboxes_stored_before_the_flag(self, now: datetime) -> int:
        """Raise ``HAS_OUTBOX`` on deliveries stored before the flag existed whose outbox a
        crash left unrelayed; returns how many. Without it the sweep, which reads flagged
        deliveries only, would never relay them, and a deadline filed from such an outbox
        would never fire unless another command came for the delivery.

        It scans the deliveries, so it runs once per database: a record in ``migrations``
        says it was done (two processes starting together may both run it, harmlessly).
        Workflow processes of a version before the flag must be stopped first.
        """
        if await self.migrations.find_one({"_id": OUTBOX_FLAG_MIGRATION}) is not None:
            return 0
        unflagged = {HAS_OUTBOX: {"$exists": False}, "outbox": {"$ne": []}}
        # One update_many over the collection would hold FerretDB's write lock on the
        # deliveries for the whole scan (minutes at a million), stopping every command. The
        # read takes no lock; each batch's write is short and checks the condition again.
        flagged = 0
        candidates = self.deliveries.find(unflagged, {"_id": 1}, batch_size=MIGRATION_BATCH)
        batch: list[str] = []
        async for document in candidates:
            batch.append(document["_id"])
            if len(batch) == MIGRATION_BATCH:
                flagged += await self._flag_outboxes(batch, unflagged)
                batch = []
        if batch:
            flagged += await self._flag_outboxes(batch, unflagged)
        with contextlib.suppress(DuplicateKeyError):
            await self.migrations.insert_one(
                {"_id": OUTBOX_FLAG_MIGRATION, "done_at": now, "flagged": flagged}
            )
        return flagged

    async def _flag_outboxes(self, delivery_ids: list[str], unflagged: dict[str, Any]) -> int:
        result = await self.deliveries.update_many(
            {"_id": {"$in": delivery_ids}, **unflagged}, {"$set": {HAS_OUTBOX: True}}
        )
        return result.modified_count

    async def record_outcome(
        self,
        command_id: str,
        *,
        delivery_id: str,
        command: str,
        actor: dict[str, Any],
        status: str,
        reason: str | None,
        message: str | None,
        now: datetime,
    ) -> None:
        """Record how a command ended, once: a redelivered command ends the same way.

        ``GET /v1/commands/{command_id}`` answers from it (the brief's ``{command_id,
        delivery_id, type, status, reason}``).

        Parameters:
          command_id(str): The record's ``_id``.
          delivery_id(str): The command's delivery.
          command(str): The command type, e.g. ``confirm``.
          actor(dict): ``{id, role}``.
          status(str): ``applied`` or ``rejected``.
          reason(str | None): The refusal's code when rejected.
          message(str | None): The refusal's readable message when rejected.
          now(datetime): Aware; stored as ``decided_at``.
        """
        with contextlib.suppress(DuplicateKeyError):
            await self.outcomes.insert_one(
                {
                    "_id": command_id,
                    "delivery_id": delivery_id,
                    "type": command,
                    "actor": actor,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "decided_at": now,
                }
            )
