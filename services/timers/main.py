"""Entry point of the timer worker: look for due deadlines every ``DC_TIMER_POLL_INTERVAL``, and
recompute the scorecard table every ``DC_SCORECARD_REFRESH`` (``scorecards``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from services.runtime.bootstrap import make_broker, utc_now
from services.runtime.bus import command_message
from services.runtime.collections import database, ensure_indexes, make_mongo
from services.runtime.deadline_book import DeadlineBook
from services.runtime.logs import configure_logging
from services.runtime.worker_metrics import serve_metrics
from services.timers.firing import DeadlineFirer
from services.timers.scorecards import refresh_periodically
from shared.config import Settings, settings_or_exit
from shared.contracts.messages import CommandEnvelope

log = logging.getLogger(__name__)

#: Threads publishing a burst of due deadlines at once.
PUBLISH_THREADS = 4


async def run(settings: Settings, stop: asyncio.Event) -> None:
    """Fire due deadlines every ``DC_TIMER_POLL_INTERVAL`` until ``stop`` is set; meanwhile
    refresh the scorecard table every ``DC_SCORECARD_REFRESH`` (``scorecards``).

    A failed poll is logged and tried again at the next one; nothing is lost, since the
    deadlines stay in the book until sent.

    Parameters:
      settings(Settings): The broker, database, poll interval, metrics port
        (``DC_TIMERS_METRICS_PORT``; 0: none), scorecard refresh and confirmation window.
      stop(asyncio.Event): Set it to end the loop after the current poll.
    """
    broker = make_broker(settings)
    db = database(make_mongo(settings), settings)
    await ensure_indexes(db)

    def publish_all(envelopes: list[CommandEnvelope]) -> None:
        for envelope in envelopes:
            broker.enqueue(command_message(envelope))

    async def send(envelopes: list[CommandEnvelope]) -> None:
        # Each publish waits for the broker's confirm, so a burst is spread over a few
        # threads, each with its own connection (dramatiq's connections are per thread).
        share = -(-len(envelopes) // PUBLISH_THREADS)
        chunks = [envelopes[i : i + share] for i in range(0, len(envelopes), share)]
        await asyncio.gather(*(asyncio.to_thread(publish_all, chunk) for chunk in chunks))

    firer = DeadlineFirer(DeadlineBook(db), send, utc_now)
    serve_metrics(settings.http_host, settings.timers_metrics_port, "timers")
    interval = settings.timer_poll_interval.total_seconds()
    refresher = asyncio.create_task(refresh_periodically(settings, stop, utc_now))
    while not stop.is_set():
        try:
            fired = await firer.fire_due()
            if fired:
                log.info("sent %d due deadlines to the workflow", fired)
        except Exception:
            # Broker or database unreachable: the leases keep what was claimed safe; try again.
            log.exception("firing due deadlines failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    await refresher
    broker.close()


def main() -> None:
    """Run the timer worker (``delivery-center timers``) until SIGTERM or SIGINT."""
    settings = settings_or_exit()
    configure_logging(settings, "timers")

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(serve())
