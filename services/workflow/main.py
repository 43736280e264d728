"""Entry point of the workflow worker: consume ``dc.commands`` until told to stop."""

from __future__ import annotations

import logging
import threading

from dramatiq.asyncio import async_to_sync

from services.runtime.bootstrap import make_broker, run_worker_until_signalled
from services.runtime.logs import configure_logging
from services.runtime.worker_metrics import serve_metrics
from services.workflow.actors import SWEEP_INTERVAL_SECONDS, Workflow, register
from shared.config import settings_or_exit
from shared.contracts.queues import COMMANDS_QUEUE

log = logging.getLogger(__name__)

#: Worker threads; each holds one delivery's command at a time.
WORKER_THREADS = 8


def _sweep_forever(workflow: Workflow, stop: threading.Event) -> None:
    sweep = async_to_sync(workflow.sweep_outboxes)
    while not stop.wait(SWEEP_INTERVAL_SECONDS):
        try:
            relayed = sweep()
            if relayed:
                log.info("relayed %d outboxes left behind", relayed)
        except Exception:
            # Broker or database down: the next sweep tries again.
            log.exception("outbox sweep failed")


def main() -> None:
    """Run the workflow worker (``delivery-center workflow``) until SIGTERM or SIGINT.

    :data:`WORKER_THREADS` threads consume ``dc.commands``; a daemon thread sweeps left-behind
    outboxes every ``SWEEP_INTERVAL_SECONDS``; metrics are served on
    ``DC_WORKFLOW_METRICS_PORT`` (0: none).
    """
    settings = settings_or_exit()
    configure_logging(settings, "workflow")
    broker = make_broker(settings)
    workflow = register(broker, settings)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_forever, args=(workflow, stop), daemon=True)
    sweeper.start()
    serve_metrics(settings.http_host, settings.workflow_metrics_port, "workflow")
    try:
        run_worker_until_signalled(broker, {COMMANDS_QUEUE}, WORKER_THREADS)
    finally:
        stop.set()
