"""Queue each applied event for the webhook endpoints subscribed to it.

For the event's public form (``shared.contracts.public_events``), one ``WebhookDelivery`` per
enabled endpoint whose ``event_types`` holds its type, in ``webhook_deliveries`` with ``_id``
``<webhook_id>:<event_id>``: a redelivered event finds its deliveries there and adds none.
Each is ``pending`` and due at once; the dispatcher (``services.notifier.dispatcher``) sends it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.contracts.public_events import public_event_body, public_event_of
from shared.contracts.webhooks import WebhookDelivery
from shared.domain.events import Event

logger = logging.getLogger(__name__)


def delivery_key(webhook_id: str, event_id: str) -> str:
    """The ``_id`` of an event's delivery to an endpoint: ``<webhook_id>:<event_id>``."""
    return f"{webhook_id}:{event_id}"


class WebhookQueue:
    """Puts events in ``deliveries`` for the subscribed endpoints of ``endpoints``
    (``clock``: UTC now)."""

    def __init__(
        self,
        endpoints: AsyncCollection,
        deliveries: AsyncCollection,
        clock: Callable[[], datetime],
    ):
        self.endpoints = endpoints
        self.deliveries = deliveries
        self.clock = clock

    async def queue(self, event: Event) -> int:
        """Queue ``event`` for every enabled endpoint subscribed to its public type; returns
        how many deliveries were new. A database error is raised (the message is retried;
        what was queued stays, once)."""
        try:
            public = public_event_of(event)
        except (KeyError, ValidationError):
            # A bug of the public form, the same on every retry: webhooks cannot carry it.
            logger.exception("event %s (%s) has no public form", event.event_id, event.type)
            return 0
        body = public_event_body(public).decode()
        now = self.clock()
        subscribed = self.endpoints.find(
            {"enabled": True, "event_types": public.event_type}, {"_id": 1}
        )
        queued = 0
        async for endpoint in subscribed:
            webhook_id = str(endpoint["_id"])
            delivery = WebhookDelivery(
                webhook_id=webhook_id,
                event_id=public.event_id,
                event_type=public.event_type,
                body=body,
                status="pending",
                created_at=now,
                next_attempt_at=now,
            )
            with contextlib.suppress(DuplicateKeyError):
                await self.deliveries.insert_one(
                    {"_id": delivery_key(webhook_id, public.event_id), **delivery.model_dump()}
                )
                queued += 1
        if queued:
            logger.info(
                "event %s (%s): queued for %d webhook endpoints",
                public.event_id,
                public.event_type,
                queued,
            )
        return queued
