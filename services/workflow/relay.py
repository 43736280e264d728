"""The outbox relay: hands a transition's events to the notifier, its deadlines to the timers and
the delivery's scorecard facts to the read model.

It runs after every write and again from a sweep, so entries whose relay died
half-way go out later; consumers dedupe by event and deadline id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.runtime.deadline_book import DeadlineBook
from services.runtime.scorecards import ScorecardBook
from services.workflow.store import DeliveryStore
from shared.domain.delivery_facts import DeliveryFacts
from shared.domain.events import Event

log = logging.getLogger(__name__)

PublishEvent = Callable[[Event], Awaitable[None]]


class OutboxRelay:
    """Relays a delivery's outbox entries, then drops them from the document.

    Parameters:
      store(DeliveryStore): Where relayed entries are removed (``mark_relayed``).
      book(DeadlineBook): Files each deadline change.
      publish_event(PublishEvent): Publishes one event and returns once the broker confirmed.
      scorecards(ScorecardBook): Files each delivery's scorecard facts.
    """

    def __init__(
        self,
        store: DeliveryStore,
        book: DeadlineBook,
        publish_event: PublishEvent,
        scorecards: ScorecardBook,
    ):
        self.store = store
        self.book = book
        self.publish_event = publish_event
        self.scorecards = scorecards

    async def relay(self, delivery_id: str, entries: list[dict[str, Any]]) -> None:
        """Publish the events, file the deadlines and the scorecard facts of ``entries``, in
        order, then drop them.

        At least once: if it stops half-way, the entries stay and are relayed again, and
        consumers dedupe (events by ``event_id``, deadlines by ``deadline_id``, scorecard
        facts by the delivery's ``version``).

        Parameters:
          delivery_id(str): The delivery whose outbox it is.
          entries(list[dict]): As from ``store.outbox_entries``: ``{entry_id, event}``,
            ``{entry_id, deadline}`` or ``{entry_id, scorecard}``.

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
            elif "deadline" in entry:
                await self.book.file(entry["deadline"])
            else:
                await self.scorecards.record(DeliveryFacts.model_validate(entry["scorecard"]))
        await self.store.mark_relayed(delivery_id, entries)
