"""The outbox relay: hands a transition's events to the notifier and its deadlines to the timers.

It runs after every write and again from a sweep, so entries whose relay died
half-way go out later; consumers dedupe by event and deadline id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.workflow.store import DeliveryStore
from shared.domain.events import Event

PublishEvent = Callable[[Event], Awaitable[None]]


class OutboxRelay:
    def __init__(
        self, store: DeliveryStore, deadlines: AsyncCollection, publish_event: PublishEvent
    ):
        self.store = store
        self.deadlines = deadlines
        self.publish_event = publish_event

    async def relay(self, delivery_id: str, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        for entry in entries:
            if "event" in entry:
                await self.publish_event(Event.model_validate(entry["event"]))
            else:
                await self.mirror_deadline(entry["deadline"])
        await self.store.mark_relayed(delivery_id, entries)

    async def mirror_deadline(self, deadline: dict[str, Any]) -> None:
        """Write the deadline's new form for the timer worker.

        Two relays of one delivery may race and write an older form last; that is harmless,
        since the engine refuses to fire a deadline the delivery no longer holds active.
        """
        fields = {k: v for k, v in deadline.items() if k != "deadline_id"}
        try:
            await self.deadlines.update_one(
                {"_id": deadline["deadline_id"]}, {"$set": fields}, upsert=True
            )
        except DuplicateKeyError:
            # A concurrent upsert inserted it first (FerretDB's upsert is not atomic): update it.
            await self.deadlines.update_one({"_id": deadline["deadline_id"]}, {"$set": fields})
