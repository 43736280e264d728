"""Entry point of the notifier: consume ``dc.notifications`` until told to stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq import Broker
from dramatiq.asyncio import async_to_sync
from dramatiq.middleware import CurrentMessage
from prometheus_client import Counter
from pydantic import ValidationError

from services.notifier.budget import SendingBudget
from services.notifier.rules import RULES
from services.notifier.sending import EmailInFlight, Notifier, PermanentSmtpFailure
from services.runtime.bootstrap import (
    PoisonMessage,
    make_broker,
    run_worker_until_signalled,
    utc_now,
)
from services.runtime.collections import EMAILS, EMAILS_SENT, database, make_mongo
from services.runtime.logs import bind_ids, configure_logging
from services.runtime.worker_metrics import serve_metrics
from shared.config import Settings, get_settings
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
    broker: Broker, settings: Settings, notifier: Callable[[], Notifier] | None = None
) -> dramatiq.Actor:
    """The notifier's actor on ``broker``. ``notifier`` makes the Notifier, once, inside
    dramatiq's event loop (default: on the database of ``settings``).

    Raises ValueError if ``DC_SMTP_SENDING_LEASE`` leaves the budget inconsistent.
    """
    budget = SendingBudget(settings.smtp_sending_lease)
    if problems := budget.problems():
        raise ValueError(f"DC_SMTP_SENDING_LEASE={settings.smtp_sending_lease}: {problems}")
    made: list[Notifier] = []

    def make_notifier() -> Notifier:
        db = database(make_mongo(settings), settings)
        return Notifier(db[EMAILS], db[EMAILS_SENT], settings, utc_now)

    async def notify(payload: dict[str, Any]) -> None:
        try:
            event = Event.model_validate(payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid event: {error}") from error
        if event.type not in RULES:
            raise PoisonMessage(f"no notification rule for event type {event.type!r}")
        if not made:  # created inside dramatiq's event loop, where it will be used
            made.append((notifier or make_notifier)())
        with bind_ids(delivery_id=event.delivery_id, event_id=event.event_id):
            try:
                sent = await made[0].notify(event)
            except EmailInFlight:
                raise  # not a failure: waited out (``send_notifications``)
            except PermanentSmtpFailure:
                FAILED_COUNTER.labels("permanent").inc()
                raise
            except Exception:
                FAILED_COUNTER.labels("transient").inc()
                raise
            SENT_COUNTER.inc(sent)
            log.info("event %s: %d emails sent", event.type, sent)

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
    settings = get_settings()
    configure_logging(settings, "notifier")
    broker = make_broker(settings)
    register(broker, settings)
    serve_metrics(settings.http_host, settings.notifier_metrics_port, "notifier")
    run_worker_until_signalled(broker, {NOTIFICATIONS_QUEUE}, WORKER_THREADS)
