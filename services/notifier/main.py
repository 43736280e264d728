"""Entry point of the notifier: consume ``dc.notifications`` until told to stop."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pydantic import ValidationError

from services.bootstrap import (
    PoisonMessage,
    configure_logging,
    make_broker,
    make_mongo,
    run_worker_until_signalled,
    utc_now,
)
from services.collections import EMAILS, EMAILS_SENT, database
from services.notifier.sending import Notifier, PermanentSmtpFailure
from shared.config import Settings, get_settings
from shared.contracts.queues import NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR
from shared.domain.events import Event

#: Concurrent SMTP conversations.
WORKER_THREADS = 4


def register(broker: RabbitmqBroker, settings: Settings) -> None:
    notifier: list[Notifier] = []

    async def send_notifications(payload: dict[str, Any]) -> None:
        try:
            event = Event.model_validate(payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid event: {error}") from error
        if not notifier:  # created inside dramatiq's event loop, where it will be used
            db = database(make_mongo(settings), settings)
            notifier.append(Notifier(db[EMAILS], db[EMAILS_SENT], settings, utc_now))
        await notifier[0].notify(event)

    dramatiq.Actor(
        send_notifications,
        broker=broker,
        actor_name=SEND_NOTIFICATIONS_ACTOR,
        queue_name=NOTIFICATIONS_QUEUE,
        priority=0,
        options={"throws": (PoisonMessage, PermanentSmtpFailure)},
        # EmailInFlight resolves within seconds; SMTP outages within minutes: retry both.
    )


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "notifier")
    broker = make_broker(settings)
    register(broker, settings)
    run_worker_until_signalled(broker, {NOTIFICATIONS_QUEUE}, WORKER_THREADS)
