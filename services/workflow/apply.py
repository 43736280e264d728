"""Apply one command envelope to its delivery: idempotent, serialised by compare-and-set.

Correctness across any number of workflow processes rests on the delivery's ``revision``:
a command is decided against the delivery as read and written only if the revision has
not moved (``DeliveryStore.save_applied``/``save_refusal`` raise ``Conflict`` otherwise),
so two writers never both win and none undoes another. The loser reads the delivery again
and decides again; after ``MAX_ATTEMPTS`` it raises ``ConflictsExhausted`` and dramatiq
retries the message. A command is applied at most once because its id is looked up in
the delivery's history and refusals before deciding (``Delivery.outcome_of``), inside the
same compare-and-set loop. This needs update atomicity on the server: MongoDB has it, and
FerretDB 1.24 has it with ``tooling/ferretdb_patches`` (issue 14).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from pymongo.asynchronous.collection import AsyncCollection

from services.runtime.bootstrap import utc_now
from services.workflow.locks import KeyedLocks
from services.workflow.relay import OutboxRelay
from services.workflow.store import Conflict, DeliveryStore
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import OpenDelivery, UploadContract
from shared.domain.delivery import HistoryEntry
from shared.domain.engine import Applied, Policy, Refused, decide, open_delivery, refusal_entry
from shared.domain.files import FileFacts

log = logging.getLogger(__name__)

#: Attempts at deciding and writing a command before giving up (dramatiq then retries the
#: message). Each lost attempt means another command was written, so this many losses in a
#: row only happen when a delivery gets about this many commands at once.
MAX_ATTEMPTS = 20
#: Pause before attempt n+1: ``FIRST_BACKOFF * 2**n`` up to ``LONGEST_BACKOFF``, times a
#: random factor in [0.5, 1.5) so that processes which collided do not collide again.
#: All pauses together stay near 3 s, well inside dramatiq's time limit.
FIRST_BACKOFF = timedelta(milliseconds=5)
LONGEST_BACKOFF = timedelta(milliseconds=200)
#: An outbox younger than this is presumed to be relayed right now by the process that
#: wrote it, so the next writer waits for it rather than publishing the same events again;
#: an older one was left behind (its writer died or failed) and is relayed by whoever comes.
OUTBOX_RELAY_LEASE = timedelta(seconds=1)

CONFLICTS = Counter(
    "dc_workflow_conflicts_total",
    "Compare-and-set writes that found the delivery written meanwhile, so the command was "
    "decided again.",
)
OUTBOX_WAITS = Counter(
    "dc_workflow_outbox_waits_total",
    "Reads that found another writer's outbox still being relayed, so the command waited.",
)
DECIDED = Counter(
    "dc_commands_decided_total",
    "Commands whose outcome was recorded, by status: applied or rejected (a redelivered "
    "command found decided counts again).",
    ["status"],
)
DECIDED_SECONDS = Histogram(
    "dc_command_decided_seconds",
    "From a command's issued_at (when the gateway answered 202, or the timer fired) to its "
    "outcome recorded, in seconds.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf")),
)


class ConflictsExhausted(Exception):
    """The delivery kept changing under us; dramatiq retries the message later."""


class OutboxInFlight(Exception):
    """The delivery's outbox was written moments ago and its writer is presumably relaying
    it: read again shortly, so its events are published once and before the next ones."""


def backoff_seconds(attempt: int) -> float:
    """Jittered exponential pause after ``attempt`` (0-based) lost attempts, in seconds."""
    ceiling = min(LONGEST_BACKOFF, FIRST_BACKOFF * 2**attempt).total_seconds()
    return ceiling * random.uniform(0.5, 1.5)


#: Told a decided command's outcome: (envelope, status ``applied``/``rejected``, reason code,
#: message for people).
Announce = Callable[[CommandEnvelope, str, str | None, str | None], Awaitable[None]]


class CommandApplier:
    """Decides commands with the engine and writes them with the delivery's compare-and-set.

    Parameters:
      store(DeliveryStore): The delivery documents and command outcomes.
      relay(OutboxRelay): Relays each write's outbox (events, deadline changes) after it.
      attachments(AsyncCollection): The ``attachments`` collection, read for the facts of
        files a command names (owner, name, size in bytes, detected type).
      policy(Policy): The confirmation window and reminder lead (``DC_CONFIRM_WINDOW``,
        ``DC_REMINDER_LEAD``).
      clock(Callable[[], datetime]): The current time, aware UTC; tests pass their own.
      locks(KeyedLocks | None): Shared per-delivery locks; by default the applier's own.
      announce(Announce | None): Told each decided command's outcome after it is recorded
        (``command.rejected`` and ``reply_to`` answers); it runs again when a redelivered
        command is found decided, so what it sends goes out at least once.
    """

    def __init__(
        self,
        store: DeliveryStore,
        relay: OutboxRelay,
        attachments: AsyncCollection,
        policy: Policy,
        clock: Callable[[], datetime] = utc_now,
        locks: KeyedLocks | None = None,
        announce: Announce | None = None,
    ):
        #: Saves this process's own commands for one delivery from losing compare-and-sets
        #: to each other; correctness does not depend on it (see the module docstring).
        self.locks = locks or KeyedLocks()
        self.store = store
        self.relay = relay
        self.attachments = attachments
        self.policy = policy
        self.clock = clock
        self.announce = announce

    async def apply(self, envelope: CommandEnvelope) -> str:
        """Apply the command and record its outcome in ``command_outcomes``.

        Idempotent: a command already decided (its id in the delivery's history or refusals)
        ends as it ended the first time, and nothing is written twice.

        Parameters:
          envelope(CommandEnvelope): The command, its actor and its delivery's id.

        Returns:
          str: ``applied`` or ``rejected`` (the reason code is in the outcome record).

        Raises:
          ConflictsExhausted: After :data:`MAX_ATTEMPTS` lost compare-and-sets; nothing of
            the command is written then, and dramatiq's retry decides it afresh.
          pymongo.errors.PyMongoError: The database failed (see
            ``bootstrap.is_transient_db_error``); the message is retried.
          dramatiq.errors.ConnectionClosed: Relaying an event failed; the outbox stays in
            the document for the retry or the sweep.
        """
        async with self.locks.hold(envelope.delivery_id):
            status, reason, message = await self._decide_and_write(envelope)
        await self.store.record_outcome(
            envelope.command_id,
            delivery_id=envelope.delivery_id,
            command=envelope.command.type,
            actor=envelope.actor.model_dump(),
            status=status,
            reason=reason,
            message=message,
            now=self.clock(),
        )
        DECIDED.labels(status).inc()
        DECIDED_SECONDS.observe(max(0.0, (self.clock() - envelope.issued_at).total_seconds()))
        log.info(
            "command %s %s",
            envelope.command.type,
            status,
            extra={"command": envelope.command.type, "status": status, "reason": reason},
        )
        if self.announce is not None:
            await self.announce(envelope, status, reason, message)
        return status

    async def _decide_and_write(
        self, envelope: CommandEnvelope
    ) -> tuple[str, str | None, str | None]:
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            try:
                return await self._attempt(envelope, may_wait_for_relay=not last)
            except Conflict:
                CONFLICTS.inc()
                log.info("delivery written meanwhile; deciding again", extra={"attempt": attempt})
            except OutboxInFlight:
                OUTBOX_WAITS.inc()
            if not last:
                await asyncio.sleep(backoff_seconds(attempt))
        raise ConflictsExhausted(envelope.delivery_id)

    async def _attempt(
        self, envelope: CommandEnvelope, *, may_wait_for_relay: bool
    ) -> tuple[str, str | None, str | None]:
        """One read, decision and compare-and-set write; raises ``Conflict`` if the write
        lost, ``OutboxInFlight`` if another writer is still relaying (only if allowed)."""
        stored = await self.store.load(envelope.delivery_id)
        command, actor, now = envelope.command, envelope.actor, self.clock()
        if stored is None:
            if not isinstance(command, OpenDelivery):
                return (
                    "rejected",
                    "unknown_delivery",
                    f"there is no delivery {envelope.delivery_id}",
                )
            decision = open_delivery(command, actor, command_id=envelope.command_id, now=now)
            if isinstance(decision, Refused):
                return "rejected", decision.code.value, decision.message
            if decision.delivery.delivery_id != envelope.delivery_id:
                return "rejected", "wrong_delivery_id", "delivery_id must be derived from order_id"
            outbox = await self.store.create(decision)
            await self.relay.relay(envelope.delivery_id, outbox)
            return "applied", None, None

        # Whatever the outcome, first finish relaying what an earlier write left behind, so
        # its events go out before ours and the new outbox may replace it.
        if (
            may_wait_for_relay
            and stored.outbox
            and now - stored.delivery.updated_at < OUTBOX_RELAY_LEASE
        ):
            raise OutboxInFlight(envelope.delivery_id)
        await self.relay.relay(envelope.delivery_id, stored.outbox)
        earlier = stored.delivery.outcome_of(envelope.command_id)
        if earlier is not None:
            if isinstance(earlier, HistoryEntry):
                return "applied", None, None
            return "rejected", earlier.code, earlier.message

        files = await self._files_named(command)
        decision = decide(
            stored.delivery,
            command,
            actor,
            command_id=envelope.command_id,
            now=now,
            policy=self.policy,
            files=files,
        )
        if isinstance(decision, Refused):
            entry = refusal_entry(
                stored.delivery, command, actor, decision, command_id=envelope.command_id, now=now
            )
            await self.store.save_refusal(stored, entry)
            return "rejected", decision.code.value, decision.message
        assert isinstance(decision, Applied)
        outbox = await self.store.save_applied(stored, decision)
        await self.relay.relay(envelope.delivery_id, outbox)
        return "applied", None, None

    async def _files_named(self, command: Any) -> dict[str, FileFacts]:
        named = list(getattr(command, "attachments", None) or [])
        if isinstance(command, UploadContract):
            named.append(command.attachment)
        if not named:
            return {}
        cursor = self.attachments.find({"_id": {"$in": named}})
        return {
            doc["_id"]: FileFacts(
                attachment_id=doc["_id"],
                delivery_id=doc["delivery_id"],
                filename=doc["filename"],
                size=doc["size"],
                detected_type=doc.get("detected_type"),
            )
            async for doc in cursor
        }
