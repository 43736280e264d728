"""The outbox relay: hands a transition's events to the notifier and its deadlines to the timers.

It runs after every write and again from a sweep, so entries whose relay died
half-way go out later; consumers dedupe by event and deadline id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.runtime.deadline_book import DeadlineBook
from services.workflow.store import DeliveryStore
from shared.domain.events import Event

log = logging.getLogger(__name__)

PublishEvent = Callable[[Event], Awaitable[None]]


class OutboxRelay:
    """Relays a delivery's outbox entries, then drops them from the document.

    Parameters:
      store(DeliveryStore): Where relayed entries are removed (``mark_relayed``).
      book(DeadlineBook): Files each deadline change.
      publish_event(PublishEvent): Publishes one event and returns once the broker confirmed.
    """

    def __init__(self, store: DeliveryStore, book: DeadlineBook, publish_event: PublishEvent):
        self.store = store
        self.book = book
        self.publish_event = publish_event

    async def relay(self, delivery_id: str, entries: list[dict[str, Any]]) -> None:
        """Publish the events and file the deadlines of ``entries``, in order, then drop them.

        At least once: if it stops half-way, the entries stay and are relayed again, and
        consumers dedupe (events by ``event_id``, deadlines by ``deadline_id``).

        Parameters:
          delivery_id(str): The delivery whose outbox it is.
          entries(list[dict]): As from ``store.outbox_entries``: ``{entry_id, event}`` or
            ``{entry_id, deadline}``.

        Raises:
          dramatiq.errors.ConnectionClosed: An event could not be published.
          pymongo.errors.PyMongoError: A deadline could not be filed or the entries dropped.
        """
        if not entries:
            return
        for entry in entries:
            if "event" in entry:
                event = Event.model_validate(entry["event"])
                await self.publish_event(event)
                log.info("event %s relayed", event.type, extra={"event_id": event.event_id})
            else:
                await self.book.file(entry["deadline"])
        await self.store.mark_relayed(delivery_id, entries)
