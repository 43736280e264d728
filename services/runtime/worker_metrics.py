"""Prometheus metrics: a dramatiq middleware for the workers, and the endpoint that serves them.

Series (all prefixed ``dc_``): ``messages_total{queue,actor,outcome}`` and
``message_seconds{actor}`` for every worker; the timer worker, notifier and gateway add
their own beside their code.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dramatiq import Middleware
from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

MESSAGES = Counter(
    "dc_messages_total",
    "Messages handled by a worker, by outcome: done, retried or dead (dead-lettered).",
    ["queue", "actor", "outcome"],
)
MESSAGE_SECONDS = Histogram(
    "dc_message_seconds", "Time to handle one message, in seconds.", ["actor"]
)


class WorkerMetrics(Middleware):
    """A dramatiq middleware counting messages by outcome (``dc_messages_total``) and timing
    them (``dc_message_seconds``). Must come before ``Retries`` in the broker's list, so that
    its "after" hook (run in reverse order) sees whether the message failed for good."""

    def __init__(self) -> None:
        self._started = threading.local()

    def before_process_message(self, broker: Any, message: Any) -> None:
        """Note the start time, per worker thread."""
        self._started.at = time.perf_counter()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        """Count the message as ``done``, ``retried`` or ``dead`` and observe its duration."""
        started = getattr(self._started, "at", None)
        if started is not None:
            MESSAGE_SECONDS.labels(message.actor_name).observe(time.perf_counter() - started)
        outcome = "done" if exception is None else ("dead" if message.failed else "retried")
        MESSAGES.labels(message.queue_name, message.actor_name, outcome).inc()

    after_skip_message = after_process_message


def serve_metrics(host: str, port: int, service: str) -> None:
    """Serve ``/metrics`` on ``host:port`` in a background thread; port 0 means not at all."""
    if port:
        start_http_server(port, addr=host)
        log.info("%s metrics on http://%s:%d/metrics", service, host, port)
