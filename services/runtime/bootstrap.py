"""Settings into a running worker: the RabbitMQ broker with its middleware, the worker loop
that stops on SIGTERM, and which database errors are transient (MongoDB clients are made in
``collections``, logging in ``logs``)."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import ConnectionClosed
from dramatiq.middleware import (
    AsyncIO,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from pymongo.errors import ConnectionFailure, OperationFailure

from services.runtime.dead_letter_recorder import DeadLetterRecorder
from services.runtime.queue_types import QueueTypeMismatch, TypedQueuesBroker
from services.runtime.worker_metrics import WorkerMetrics
from shared.config import Settings, amqp_urls

#: Retries of a failing message before it goes to its dead-letter queue.
MAX_RETRIES = 8
#: How often (ms) an idle worker thread or consumer wakes up. A stopping worker waits up to
#: this for each of them to notice, and a delayed message (a retry's backoff) is taken up to
#: this late: with dramatiq's default of 1000, a SIGTERM took up to two seconds.
IDLE_WAKEUP_MS = 200
#: Backoff between retries, in milliseconds (doubling from the minimum).
MIN_BACKOFF_MS = 250
MAX_BACKOFF_MS = 30_000
#: How long one message may run before dramatiq interrupts it, in milliseconds.
TIME_LIMIT_MS = 60_000


class PoisonMessage(Exception):
    """A message that no retry can mend (it fails validation): straight to the dead letters."""


#: Connection options added to DC_AMQP_URL unless it sets them. Publishing connections are
#: per thread and sit idle between publishes, so pika never answers heartbeats on them and
#: RabbitMQ closes them mid-use after 60 s; without heartbeats a dead peer is still seen by
#: TCP, and a publish blocked by the broker's flow control gives up after 30 s.
AMQP_DEFAULTS = {"heartbeat": "0", "blocked_connection_timeout": "30"}


def amqp_url_with_defaults(url: str) -> str:
    """Add :data:`AMQP_DEFAULTS` to an AMQP URI's query; options the URI sets win.

    Parameters:
      url(str): An ``amqp://`` or ``amqps://`` URI (RabbitMQ's URI spec; query options
        as pika's ``URLParameters`` reads them).

    Returns:
      str: The same URI with ``heartbeat`` and ``blocked_connection_timeout`` (seconds) set.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return urlunsplit(parts._replace(query=urlencode({**AMQP_DEFAULTS, **query})))


def amqp_parameters(amqp_url: str) -> list[pika.URLParameters]:
    """pika's connection parameters for each URI of ``DC_AMQP_URL`` (``shared.config.
    amqp_urls``), with :data:`AMQP_DEFAULTS`. ``pika.BlockingConnection`` given the list
    connects to the first that answers; every new connection (after one is lost) tries them
    all again, in order.

    Raises:
      ValueError: ``amqp_url`` is malformed (the message leaves credentials out).
    """
    return [pika.URLParameters(amqp_url_with_defaults(url)) for url in amqp_urls(amqp_url)]


def make_broker(settings: Settings) -> RabbitmqBroker:
    """A RabbitMQ broker that waits for the broker's confirm on every publish.

    Also makes it dramatiq's global broker (``dramatiq.set_broker``), so actors declared
    afterwards bind to it.

    Parameters:
      settings(Settings): ``amqp_url`` is the broker, ``queue_type`` the type of the queues it
        declares (``services.runtime.queue_types``); retries are :data:`MAX_RETRIES` with
        backoff :data:`MIN_BACKOFF_MS`..:data:`MAX_BACKOFF_MS` ms, each message limited to
        :data:`TIME_LIMIT_MS` ms (dramatiq's Retries and TimeLimit middleware).

    Returns:
      RabbitmqBroker: A ``TypedQueuesBroker``, connected lazily, on first use, by pika; with
      several URIs (a cluster), each connection goes to the first node that answers.
    """
    urls = [amqp_url_with_defaults(url) for url in settings.amqp_urls]
    broker = TypedQueuesBroker(
        queue_type=settings.queue_type,
        url=urls[0] if len(urls) == 1 else urls,
        confirm_delivery=True,
        middleware=[
            TimeLimit(time_limit=TIME_LIMIT_MS),
            ShutdownNotifications(),
            Callbacks(),
            Pipelines(),
            # "after" hooks run in reverse order: these two see what Retries decided.
            WorkerMetrics(),
            DeadLetterRecorder(settings),
            Retries(
                max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS
            ),
            CurrentMessage(),
            AsyncIO(),
        ],
    )
    dramatiq.set_broker(broker)
    return broker


#: Server error codes that mean "the database is going away or coming back", not "bad request":
#: FerretDB answers InternalError (1) for queries cut short by its shutdown.
TRANSIENT_DB_CODES = frozenset({1, 91, 189, 11600, 11602, 13436})


def is_transient_db_error(error: BaseException) -> bool:
    """True if ``error`` means the database is unreachable or restarting, so a retry may pass.

    Parameters:
      error(BaseException): Anything raised by a PyMongo call.

    Returns:
      bool: True for ``ConnectionFailure`` (timeouts, refused connections) and for an
      ``OperationFailure`` whose code is in :data:`TRANSIENT_DB_CODES` (MongoDB's error
      codes: InternalError, ShutdownInProgress, PrimarySteppedDown, InterruptedAtShutdown,
      InterruptedDueToReplStateChange, NotPrimaryOrSecondary).
    """
    if isinstance(error, ConnectionFailure):
        return True
    return isinstance(error, OperationFailure) and error.code in TRANSIENT_DB_CODES


def run_worker_until_signalled(broker: RabbitmqBroker, queues: set[str], threads: int) -> None:
    """Consume ``queues`` until SIGTERM or SIGINT, then hand back in-flight work and stop.

    Must run in the main thread (Python installs signal handlers only there). Declares
    ``queues`` first, so a queue of another type than ``DC_QUEUE_TYPE`` stops the start; a
    broker that cannot be reached does not (the consumers retry until it answers). Closes
    ``broker`` on the way out.

    Parameters:
      broker(RabbitmqBroker): The broker whose actors handle the messages.
      queues(set[str]): Queue names to consume, e.g. ``{COMMANDS_QUEUE}``.
      threads(int): dramatiq worker threads, i.e. messages handled at once.

    Raises:
      QueueTypeMismatch: A queue exists with another type or delivery limit.
    """
    for queue in sorted(queues):
        try:
            broker.declare_queue(queue, ensure=True)
        except QueueTypeMismatch:
            broker.close()
            raise
        except ConnectionClosed:
            break
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = dramatiq.Worker(
        broker, queues=queues, worker_threads=threads, worker_timeout=IDLE_WAKEUP_MS
    )
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop()
        broker.close()


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the only kind the product stores)."""
    return datetime.now(UTC)
