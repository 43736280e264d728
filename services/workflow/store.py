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
)
from services.runtime.delivery_days import day_fields, listed_days
from services.runtime.party_lists import list_fields
from shared.domain.actions import Situation
from shared.domain.delivery import Delivery, RefusedEntry
from shared.domain.delivery_facts import facts_of
from shared.domain.engine import Applied


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
      delivery's scorecard facts (``shared.domain.delivery_facts.facts_of``).
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
    """The workflow's reads and writes of ``deliveries``, ``command_outcomes`` and
    ``delivery_days`` (the one-off migrations of ``deliveries`` are
    ``services.workflow.migrations``).

    Every write of a delivery is one compare-and-set on its ``revision`` (one document is
    updated atomically on MongoDB, and on FerretDB with the project's patches).

    Parameters:
      db(AsyncDatabase): The product's database.
    """

    def __init__(self, db: AsyncDatabase):
        self.deliveries = db[DELIVERIES]
        self.outcomes = db[COMMAND_OUTCOMES]
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
            await self.record_day(day)
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
            await self.record_day(day)
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

    async def record_day(self, day: str) -> None:
        """Put ``day`` in ``delivery_days`` before a delivery names it: a listing that walks
        the days then never misses a delivery (a day recorded by a write that then failed
        only costs the listing one empty read).

        Parameters:
          day(str): A UTC day, ``YYYY-MM-DD``; recorded once per process.
        """
        if day in self._recorded_days:
            return
        with contextlib.suppress(DuplicateKeyError):
            await self.days.insert_one({"_id": day})
        self._recorded_days.add(day)

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
