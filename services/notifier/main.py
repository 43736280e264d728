"""Entry point of the notifier: consume ``dc.notifications`` until told to stop, emailing the
parties of each event and queuing it for the webhook endpoints subscribed to it; beside the
worker, a thread with its own event loop sends the queued webhook deliveries
(``dispatcher``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq import Broker
from dramatiq.asyncio import async_to_sync
from dramatiq.middleware import CurrentMessage
from prometheus_client import Counter
from pydantic import ValidationError

from services.notifier.alerts import admin_alert
from services.notifier.budget import SendingBudget
from services.notifier.dispatcher import Dispatcher
from services.notifier.rules import RULES
from services.notifier.sending import EmailInFlight, Notifier, PermanentSmtpFailure
from services.notifier.webhooks import WebhookQueue
from services.runtime.bootstrap import (
    PoisonMessage,
    make_broker,
    run_worker_until_signalled,
    utc_now,
)
from services.runtime.collections import (
    EMAILS,
    EMAILS_SENT,
    WEBHOOK_DELIVERIES,
    WEBHOOK_ENDPOINTS,
    database,
    make_mongo,
)
from services.runtime.logs import bind_ids, configure_logging
from services.runtime.worker_metrics import serve_metrics
from shared.config import Settings, settings_or_exit
from shared.contracts.queues import NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR
from shared.domain.events import Event

log = logging.getLogger(__name__)

SENT_COUNTER = Counter("dc_emails_sent_total", "Emails the SMTP server accepted.")
FAILED_COUNTER = Counter(
    "dc_emails_failed_total", "Sending attempts that failed, transient or permanent.", ["kind"]
)
CLAIM_WAITS = Counter(
    "dc_email_claim_waits_total",
    "Events put back until another sender's claim on one of their emails runs out.",
)

#: Concurrent SMTP conversations.
WORKER_THREADS = 4


def _ms(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)


def register(
    broker: Broker,
    settings: Settings,
    notifier: Callable[[], Notifier] | None = None,
    webhooks: Callable[[], WebhookQueue] | None = None,
) -> dramatiq.Actor:
    """The notifier's actor on ``broker``. ``notifier`` makes the Notifier and ``webhooks``
    the WebhookQueue, once, inside dramatiq's event loop; by default both on the database of
    ``settings``, except that a given ``notifier`` alone queues no webhooks.

    Raises ValueError if ``DC_SMTP_SENDING_LEASE`` leaves the budget inconsistent.
    """
    budget = SendingBudget(settings.smtp_sending_lease)
    if problems := budget.problems():
        raise ValueError(f"DC_SMTP_SENDING_LEASE={settings.smtp_sending_lease}: {problems}")
    made: list[tuple[Notifier, WebhookQueue | None]] = []

    def make_both() -> tuple[Notifier, WebhookQueue | None]:
        if notifier is not None:
            return notifier(), webhooks() if webhooks is not None else None
        db = database(make_mongo(settings), settings)
        queue = WebhookQueue(db[WEBHOOK_ENDPOINTS], db[WEBHOOK_DELIVERIES], utc_now)
        return Notifier(db[EMAILS], db[EMAILS_SENT], settings, utc_now), queue

    async def notify(payload: dict[str, Any]) -> None:
        try:
            event = Event.model_validate(payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid event: {error}") from error
        if event.type not in RULES:
            raise PoisonMessage(f"no notification rule for event type {event.type!r}")
        if not made:  # created inside dramatiq's event loop, where it will be used
            made.append(make_both())
        emailer, queue = made[0]
        with bind_ids(delivery_id=event.delivery_id, event_id=event.event_id):
            # Webhooks first, so that no email outcome keeps them from being queued; a failure
            # to queue fails the message (retried: queuing again adds nothing) after the emails.
            queue_error: Exception | None = None
            if queue is not None:
                try:
                    await queue.queue(event)
                except Exception as error:
                    log.warning("event %s: queuing webhooks failed: %r", event.type, error)
                    queue_error = error
            try:
                sent = await emailer.notify(event)
            except EmailInFlight:
                raise  # not a failure: waited out (``send_notifications``); queued again then
            except PermanentSmtpFailure as refused:
                FAILED_COUNTER.labels("permanent").inc()
                if queue_error is not None:
                    # Retried, not dead-lettered: the webhooks are still owed.
                    raise queue_error from refused
                raise
            except Exception:
                FAILED_COUNTER.labels("transient").inc()
                raise
            SENT_COUNTER.inc(sent)
            log.info("event %s: %d emails sent", event.type, sent)
            if queue_error is not None:
                raise queue_error

    notify_now = async_to_sync(notify)

    def send_notifications(payload: dict[str, Any]) -> None:
        # A plain function around the coroutine: the current message is known only on the
        # worker's own thread, not in the event loop's.
        try:
            notify_now(payload)
        except EmailInFlight as busy:
            wait_out_claim(broker, busy, budget)

    return dramatiq.Actor(
        send_notifications,
        broker=broker,
        actor_name=SEND_NOTIFICATIONS_ACTOR,
        queue_name=NOTIFICATIONS_QUEUE,
        priority=0,
        # A permanent refusal (5xx) goes straight to dc.notifications.XQ, after every other
        # recipient of the event was emailed. Failures (SMTP outages, 4xx, the database) are
        # retried with backoff; recipients already emailed are skipped. An email another
        # sender holds is waited out, spending no retry. The durations: ``budget``.
        options={
            "throws": (PoisonMessage, PermanentSmtpFailure),
            "time_limit": _ms(budget.time_limit),
            "max_retries": budget.max_retries,
            "min_backoff": _ms(budget.min_backoff),
            "max_backoff": _ms(budget.max_backoff),
        },
    )


def wait_out_claim(broker: Broker, busy: EmailInFlight, budget: SendingBudget) -> None:
    """Put the current message back on its queue, delayed until ``busy``'s lease has run out
    or the claim is worth looking at again (``budget.wait_for_claim``), with its retry count
    as it was; this run then ends well, so the message is acknowledged. Must run on the
    worker's thread (``CurrentMessage``)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        raise RuntimeError("no current message: CurrentMessage middleware missing?") from busy
    delay = budget.wait_for_claim(busy.until - utc_now())
    CLAIM_WAITS.inc()
    log.info(
        "%s; message %s put back for %.1f s (retries so far: %d)",
        busy,
        message.message_id,
        delay.total_seconds(),
        message.options.get("retries", 0),
    )
    broker.enqueue(message.copy(), delay=_ms(delay))


def main() -> None:
    """Run the notifier's worker on ``dc.notifications`` with the ``DC_`` settings, its metrics
    on ``DC_NOTIFIER_METRICS_PORT``, until SIGTERM or SIGINT."""
    settings = settings_or_exit()
    configure_logging(settings, "notifier")
    broker = make_broker(settings)
    register(broker, settings)
    serve_metrics(settings.http_host, settings.notifier_metrics_port, "notifier")
    dispatching = DispatcherThread(settings)
    dispatching.start()
    try:
        run_worker_until_signalled(broker, {NOTIFICATIONS_QUEUE}, WORKER_THREADS)
    finally:
        dispatching.stop()


class DispatcherThread(threading.Thread):
    """The webhook dispatcher (``dispatcher.Dispatcher``) on a thread with its own event loop
    and database client; :meth:`stop` ends it after the attempts under way."""

    def __init__(self, settings: Settings):
        super().__init__(name="webhook-dispatcher", daemon=True)
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped: asyncio.Event | None = None
        self.ready = threading.Event()

    def run(self) -> None:
        """The thread's body: run the dispatcher until :meth:`stop`."""
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop, self.stopped = asyncio.get_running_loop(), asyncio.Event()
        self.ready.set()
        settings = self.settings
        client = make_mongo(settings)
        db = database(client, settings)
        # Only its SMTP transport is used: the emails' own collections stay untouched.
        transport = Notifier(db[EMAILS], db[EMAILS_SENT], settings, utc_now).transport
        dispatcher = Dispatcher(
            db[WEBHOOK_ENDPOINTS],
            db[WEBHOOK_DELIVERIES],
            settings,
            utc_now,
            admin_alert(settings, transport, utc_now),
        )
        try:
            await dispatcher.run(self.stopped)
        finally:
            await client.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the dispatcher to stop, and wait up to ``timeout`` seconds for it."""
        if self.ready.wait(timeout) and self.loop is not None and self.stopped is not None:
            self.loop.call_soon_threadsafe(self.stopped.set)
        self.join(timeout)
