"""Entry point of the notifier: consume ``dc.notifications`` until told to stop."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from prometheus_client import Counter
from pydantic import ValidationError

from services.bootstrap import (
    PoisonMessage,
    make_broker,
    make_mongo,
    run_worker_until_signalled,
    utc_now,
)
from services.collections import EMAILS, EMAILS_SENT, database
from services.logs import bind_ids, configure_logging
from services.metrics import serve_metrics
from services.notifier.rules import RULES
from services.notifier.sending import Notifier, PermanentSmtpFailure
from shared.config import Settings, get_settings
from shared.contracts.queues import NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR
from shared.domain.events import Event

log = logging.getLogger(__name__)

SENT_COUNTER = Counter("dc_emails_sent_total", "Emails the SMTP server accepted.")
FAILED_COUNTER = Counter(
    "dc_emails_failed_total", "Sending attempts that failed, transient or permanent.", ["kind"]
)

#: Concurrent SMTP conversations.
WORKER_THREADS = 4


def register(broker: RabbitmqBroker, settings: Settings) -> None:
    notifier: list[Notifier] = []

    async def send_notifications(payload: dict[str, Any]) -> None:
        try:
            event = Event.model_validate(payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid event: {error}") from error
        if event.type not in RULES:
            raise PoisonMessage(f"no notification rule for event type {event.type!r}")
        if not notifier:  # created inside dramatiq's event loop, where it will be used
            db = database(make_mongo(settings), settings)
            notifier.append(Notifier(db[EMAILS], db[EMAILS_SENT], settings, utc_now))
        with bind_ids(delivery_id=event.delivery_id, event_id=event.event_id):
            try:
                sent = await notifier[0].notify(event)
            except PermanentSmtpFailure:
                FAILED_COUNTER.labels("permanent").inc()
                raise
            except Exception:
                FAILED_COUNTER.labels("transient").inc()
                raise
            SENT_COUNTER.inc(sent)
            log.info("event %s: %d emails sent", event.type, sent)

    dramatiq.Actor(
        send_notifications,
        broker=broker,
        actor_name=SEND_NOTIFICATIONS_ACTOR,
        queue_name=NOTIFICATIONS_QUEUE,
        priority=0,
        # A permanent refusal (5xx) goes straight to dc.notifications.XQ, after every other
        # recipient of the event was emailed. Everything else (EmailInFlight, SMTP outages,
        # 4xx) is retried with backoff; recipients already emailed are skipped.
        options={"throws": (PoisonMessage, PermanentSmtpFailure)},
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "notifier")
    broker = make_broker(settings)
    register(broker, settings)
    serve_metrics(settings.http_host, settings.notifier_metrics_port, "notifier")
    run_worker_until_signalled(broker, {NOTIFICATIONS_QUEUE}, WORKER_THREADS)
