"""Send every due deadline to the workflow as an ``expire_deadline`` command.

Deadlines wait in MongoDB (see ``book``), never in RabbitMQ, whose ``consumer_timeout``
would not hold a 14-day delay. Each poll the worker leases each due bucket, sends what is
due in batches, then forgets it. A worker that dies between sending and forgetting is
harmless: the next holder of the lease sends again, under the same command id
(``expire:<deadline id>``), which the workflow applies once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from services.runtime.deadline_book import DeadlineBook
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import ExpireDeadline
from shared.domain.roles import Actor, Role

log = logging.getLogger(__name__)

FIRED = Counter("dc_deadlines_fired_total", "Due deadlines sent to the workflow.")
FIRING_LAG = Histogram(
    "dc_deadline_firing_lag_seconds",
    "From a deadline's due time to its sending, in seconds.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, float("inf")),
)
DUE_BUCKETS = Gauge("dc_deadline_buckets_due", "Hourly deadline buckets the last poll read.")

#: How long a bucket is one worker's before another may take it over (a crashed holder).
LEASE = timedelta(seconds=20)
#: Deadlines read, sent and forgotten at a time.
BATCH = 5000
#: The party recorded in history for what the clock did.
TIMER_ACTOR = Actor(id="timer", role=Role.SYSTEM)

SendCommands = Callable[[list[CommandEnvelope]], Awaitable[None]]


def expiry_command(deadline: dict[str, Any], now: datetime) -> CommandEnvelope:
    """The ``expire_deadline`` command for a due deadline, from :data:`TIMER_ACTOR`.

    Parameters:
      deadline(dict): As the book returns it (``DeadlineBook.due``): ``_id`` (the
        deadline id) and ``delivery_id`` are used.
      now(datetime): Aware; the envelope's ``issued_at``.

    Returns:
      CommandEnvelope: Command id ``expire:<deadline id>``, the same on every resend, so
      the workflow applies it once.
    """
    return CommandEnvelope(
        command_id=f"expire:{deadline['_id']}",
        delivery_id=deadline["delivery_id"],
        actor=TIMER_ACTOR,
        issued_at=now,
        command=ExpireDeadline(deadline_id=deadline["_id"]),
    )


class DeadlineFirer:
    """Sends the due deadlines of the book's due buckets, each bucket under a lease.

    Parameters:
      book(DeadlineBook): Where the deadlines are filed.
      send(SendCommands): Publishes a batch of commands onto ``dc.commands`` and returns
        once the broker confirmed them all; raising leaves the batch in the book.
      clock(Callable[[], datetime]): The current time, aware UTC.
    """

    def __init__(self, book: DeadlineBook, send: SendCommands, clock: Callable[[], datetime]):
        self.book = book
        self.send = send
        self.clock = clock
        self.owner = uuid.uuid4().hex

    async def fire_due(self) -> int:
        """Send every deadline due now, :data:`BATCH` at a time, then forget them.

        Buckets another worker holds are skipped this time. A failure after sending and
        before forgetting means a resend under the same command ids, which is harmless.

        Returns:
          int: How many deadlines were sent.

        Raises:
          Exception: Whatever ``send`` or the book's database raises; deadlines not yet
            forgotten stay in the book for the next poll.
        """
        now = self.clock()
        sent = 0
        due_buckets = await self.book.due_buckets(now)
        DUE_BUCKETS.set(len(due_buckets))
        for name in due_buckets:
            if not await self.book.claim(name, self.owner, now, LEASE):
                continue
            try:
                while batch := await self.book.due(name, now, BATCH):
                    await self.send([expiry_command(deadline, now) for deadline in batch])
                    FIRED.inc(len(batch))
                    for deadline in batch:
                        lag = (now - deadline["due_at"]).total_seconds()
                        FIRING_LAG.observe(lag)
                        log.debug(
                            "deadline %s sent",
                            deadline["_id"],
                            extra={"delivery_id": deadline["delivery_id"], "lag_seconds": lag},
                        )
                    await self.book.forget(name, [deadline["_id"] for deadline in batch])
                    sent += len(batch)
                    if len(batch) < BATCH:
                        break
                await self.book.finish_if_settled(name, now)
            finally:
                await self.book.release(name, self.owner)
        return sent
