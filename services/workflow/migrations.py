"""The one-off migrations of ``deliveries``: each gives the deliveries stored by an earlier
version what a newer one writes with every delivery, once per database.

Each runs at a workflow process's start (``services.workflow.actors``); a record in
``migrations`` says it was done, so later starts do not scan the deliveries again.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.runtime.collections import HAS_OUTBOX, MIGRATIONS
from services.runtime.delivery_days import UPDATED_DAY, day_fields, listed_days
from services.runtime.party_lists import LIST_FIELD, list_fields_of
from services.workflow.store import DeliveryStore
from shared.domain.roles import Role
from shared.domain.states import State

#: The record in ``migrations`` saying that deliveries stored before ``HAS_OUTBOX`` existed
#: were flagged (see ``DeliveryMigrations.flag_outboxes_stored_before_the_flag``).
OUTBOX_FLAG_MIGRATION = "has_outbox_backfilled"
#: The record in ``migrations`` saying that deliveries stored before their day fields existed
#: were given them (see ``DeliveryMigrations.date_deliveries_stored_before_the_days``).
DAYS_MIGRATION = "delivery_days_backfilled"
#: The record in ``migrations`` saying that deliveries stored before their list fields existed
#: were given them (see ``DeliveryMigrations.place_deliveries_stored_before_the_lists``).
LISTS_MIGRATION = "party_lists_backfilled"
#: The record in ``migrations`` saying that the deliveries in their warranty were placed in the
#: parties' lists again, now that a warranty request awaiting the ISV is the ISV's turn (see
#: ``DeliveryMigrations.place_warranty_requests_anew``).
WARRANTY_LISTS_MIGRATION = "party_lists_warranty_requests"
#: Deliveries a migration writes at once: each write holds the collection's lock briefly.
MIGRATION_BATCH = 500


class DeliveryMigrations:
    """The one-off migrations of the store's ``deliveries``, recorded in ``migrations``.

    Parameters:
      store(DeliveryStore): The workflow's store: its ``deliveries`` are migrated, its
        ``delivery_days`` recorded, and ``migrations`` of the same database says which ran.
    """

    def __init__(self, store: DeliveryStore):
        self.store = store
        self.deliveries = store.deliveries
        self.migrations = store.deliveries.database[MIGRATIONS]

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
                await self.store.record_day(day)
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
