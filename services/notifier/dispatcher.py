"""Send the queued webhook deliveries that are due, retry failures, disable dead endpoints.

Every :data:`POLL_INTERVAL` the dispatcher reads the ``pending`` deliveries (equality on the
indexed ``status``; the time is compared here, as FerretDB serves only the first), takes the
due ones oldest first, at most :data:`BATCH`, and sends each endpoint's in order, one at a time,
endpoints side by side. Before an attempt it claims the delivery: one atomic
``find_one_and_update`` moves ``next_attempt_at`` :data:`LEASE` ahead only if it is still what
was read, so two notifiers never make the same attempt; a notifier that dies holding a claim
leaves it to be taken again once the lease has run out.

Each attempt is recorded (``$push`` of a ``WebhookAttempt``). A 2xx makes the delivery
``delivered``; anything else schedules the next attempt (``signing.next_attempt``: doubling
from ``DC_WEBHOOK_RETRY_BASE``, at most an hour apart) until ``DC_WEBHOOK_RETRY_FOR`` has
passed since it was queued; then it is ``failed``, its endpoint is disabled and the admin
emailed, once: only the update that turns the endpoint off sends the email. A delivery whose
endpoint is gone or disabled is ``failed`` without an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from pydantic import ValidationError
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from services.notifier.posting import ATTEMPT_TIMEOUT, Answer, post
from services.notifier.signing import next_attempt, secrets_in_force, signed_headers
from shared.config import Settings
from shared.contracts.webhooks import WebhookAttempt, WebhookEndpoint

logger = logging.getLogger(__name__)

#: Seconds between two looks for due deliveries.
POLL_INTERVAL = 0.5
#: How long a claim keeps other notifiers off a delivery: well past an attempt's timeout.
LEASE = timedelta(seconds=60)
#: Due deliveries taken per look, and per endpoint.
BATCH = 200
PER_ENDPOINT = 20
#: Endpoints being sent to at once.
ENDPOINTS_AT_ONCE = 32

ATTEMPTS = Counter("dc_webhook_attempts_total", "Webhook attempts, by outcome.", ["outcome"])

#: Sends one attempt: (url, body, headers, allowed address kinds) -> how it went.
Poster = Callable[[str, bytes, dict[str, str], frozenset[str]], Awaitable[Answer]]
#: Tells the admin an endpoint was disabled: (endpoint, reason).
Alert = Callable[[WebhookEndpoint, str], Awaitable[None]]


def _endpoint(document: dict[str, Any] | None) -> WebhookEndpoint | None:
    if document is None:
        return None
    fields = {k: v for k, v in document.items() if k != "_id"}
    fields.setdefault("webhook_id", str(document["_id"]))
    try:
        return WebhookEndpoint.model_validate(fields)
    except ValidationError:
        logger.exception("webhook endpoint %s is unreadable: treated as gone", document["_id"])
        return None


class Dispatcher:
    """Sends ``deliveries`` to ``endpoints`` with ``settings``' address policy and retry
    schedule (``clock``: UTC now; ``alert``: emails the admin; ``poster``: one HTTP attempt)."""

    def __init__(
        self,
        endpoints: AsyncCollection,
        deliveries: AsyncCollection,
        settings: Settings,
        clock: Callable[[], datetime],
        alert: Alert,
        poster: Poster = post,
    ):
        self.endpoints = endpoints
        self.deliveries = deliveries
        self.settings = settings
        self.clock = clock
        self.alert = alert
        self.poster = poster
        self.busy: set[str] = set()
        self.tasks: set[asyncio.Task] = set()
        self.stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        """Send due deliveries every :data:`POLL_INTERVAL` until ``stop`` is set; then let the
        attempts under way end (each within its timeout). A failed look (database
        unreachable) is logged and tried again at the next one."""
        while not stop.is_set():
            try:
                await self.dispatch_due()
            except Exception:
                logger.exception("looking for due webhook deliveries failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_INTERVAL)
        self.stopping = True
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=ATTEMPT_TIMEOUT + 5)
        for task in self.tasks:
            task.cancel()

    async def dispatch_due(self) -> int:
        """Start sending the due deliveries of every endpoint not being sent to already;
        returns how many endpoints were started on."""
        now = self.clock()
        pending = await self.deliveries.find(
            {"status": "pending"}, {"webhook_id": 1, "next_attempt_at": 1, "created_at": 1}
        ).to_list()
        due = sorted(
            (d for d in pending if d.get("next_attempt_at") and d["next_attempt_at"] <= now),
            key=lambda d: (d["created_at"], d["_id"]),
        )[:BATCH]
        by_endpoint: dict[str, list[dict[str, Any]]] = {}
        for document in due:
            by_endpoint.setdefault(document["webhook_id"], []).append(document)
        started = 0
        for webhook_id, documents in by_endpoint.items():
            if webhook_id in self.busy or len(self.busy) >= ENDPOINTS_AT_ONCE:
                continue
            self.busy.add(webhook_id)
            task = asyncio.create_task(self._send_all(webhook_id, documents[:PER_ENDPOINT]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            started += 1
        return started

    async def _send_all(self, webhook_id: str, documents: list[dict[str, Any]]) -> None:
        try:
            for document in documents:
                if self.stopping:
                    return
                try:
                    claimed = await self.claim(document)
                    if claimed is not None:
                        await self.attempt(claimed)
                except Exception:
                    # The database: the claim's lease runs out and the delivery is tried again.
                    logger.exception("webhook delivery %s failed to run", document["_id"])
        finally:
            self.busy.discard(webhook_id)

    async def claim(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """Take ``document`` (as read: ``_id`` and ``next_attempt_at``) for one attempt, or
        None if another notifier took it or it was settled meanwhile."""
        return await self.deliveries.find_one_and_update(
            {
                "_id": document["_id"],
                "status": "pending",
                "next_attempt_at": document["next_attempt_at"],
            },
            {"$set": {"next_attempt_at": self.clock() + LEASE}},
            return_document=ReturnDocument.AFTER,
        )

    async def attempt(self, claimed: dict[str, Any]) -> None:
        """Make one attempt at the ``claimed`` delivery (as stored after the claim) and record
        it; fail it without one if its endpoint is gone or disabled."""
        endpoint = _endpoint(await self.endpoints.find_one({"_id": claimed["webhook_id"]}))
        if endpoint is None or not endpoint.enabled:
            await self._settle(claimed, {"status": "failed", "next_attempt_at": None}, None)
            logger.info("webhook delivery %s failed: endpoint gone or disabled", claimed["_id"])
            return
        now = self.clock()
        body: str = claimed["body"]
        try:
            headers = signed_headers(
                claimed["event_id"], body, secrets_in_force(endpoint, now), now
            )
        except ValueError as error:
            answer = Answer(None, 0, str(error))
        else:
            answer = await self.poster(
                endpoint.url, body.encode(), headers, self.settings.webhook_allowed_addresses
            )
        attempt = WebhookAttempt(
            at=now, status=answer.status, latency_ms=answer.latency_ms, error=answer.error
        )
        ATTEMPTS.labels("delivered" if answer.delivered else "failed").inc()
        if answer.delivered:
            await self._settle(claimed, {"status": "delivered", "next_attempt_at": None}, attempt)
            return
        count = len(claimed.get("attempts", [])) + 1
        then = next_attempt(
            claimed["created_at"],
            count,
            self.clock(),
            base=self.settings.webhook_retry_base,
            retry_for=self.settings.webhook_retry_for,
        )
        if then is not None:
            await self._settle(claimed, {"next_attempt_at": then}, attempt)
            logger.info(
                "webhook delivery %s: attempt %d failed (%s); next at %s",
                claimed["_id"],
                count,
                answer.error,
                then.isoformat(),
            )
            return
        if await self._settle(claimed, {"status": "failed", "next_attempt_at": None}, attempt):
            await self._disable(endpoint, claimed, count, attempt)

    async def _settle(
        self, claimed: dict[str, Any], fields: dict[str, Any], attempt: WebhookAttempt | None
    ) -> bool:
        """Record ``attempt`` and set ``fields`` if the claim is still ours; True if so. A claim
        lost meanwhile (past its lease) still gets its attempt recorded."""
        push = {"$push": {"attempts": attempt.model_dump()}} if attempt is not None else {}
        ours = {"_id": claimed["_id"], "next_attempt_at": claimed["next_attempt_at"]}
        result = await self.deliveries.update_one(ours, {"$set": fields, **push})
        if result.matched_count:
            return True
        logger.warning("webhook delivery %s: claim lost before its outcome", claimed["_id"])
        if push:
            await self.deliveries.update_one({"_id": claimed["_id"]}, push)
        return False

    async def _disable(
        self, endpoint: WebhookEndpoint, delivery: dict[str, Any], count: int, last: WebhookAttempt
    ) -> None:
        reason = (
            f"event {delivery['event_id']} ({delivery['event_type']}) was not delivered in "
            f"{count} attempts over {self.settings.webhook_retry_for}; last: {last.error}"
        )
        turned_off = await self.endpoints.update_one(
            {"_id": endpoint.webhook_id, "enabled": True},
            {"$set": {"enabled": False, "disabled_at": self.clock(), "disabled_reason": reason}},
        )
        if turned_off.modified_count:
            logger.warning("webhook endpoint %s disabled: %s", endpoint.webhook_id, reason)
            await self.alert(endpoint, reason)
