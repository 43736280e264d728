"""Apply one command envelope to its delivery: idempotent, serialised by compare-and-set."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.bootstrap import utc_now
from services.workflow.locks import KeyedLocks
from services.workflow.relay import OutboxRelay
from services.workflow.store import Conflict, DeliveryStore
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import OpenDelivery, UploadContract
from shared.domain.delivery import HistoryEntry
from shared.domain.engine import Applied, Policy, Refused, decide, open_delivery, refusal_entry
from shared.domain.files import FileFacts

log = logging.getLogger(__name__)

#: Attempts at a compare-and-set write before giving up (the message is then retried).
MAX_CONFLICT_RETRIES = 20


class ConflictsExhausted(Exception):
    """The delivery kept changing under us; dramatiq retries the message later."""


class CommandApplier:
    def __init__(
        self,
        store: DeliveryStore,
        relay: OutboxRelay,
        attachments: AsyncCollection,
        policy: Policy,
        clock: Callable[[], datetime] = utc_now,
        locks: KeyedLocks | None = None,
    ):
        self.locks = locks or KeyedLocks()
        self.store = store
        self.relay = relay
        self.attachments = attachments
        self.policy = policy
        self.clock = clock

    async def apply(self, envelope: CommandEnvelope) -> str:
        """Apply the command and record its outcome; returns ``applied`` or ``rejected``."""
        async with self.locks.hold(envelope.delivery_id):
            for _ in range(MAX_CONFLICT_RETRIES):
                try:
                    status, reason, message = await self._attempt(envelope)
                    break
                except Conflict:
                    continue
            else:
                raise ConflictsExhausted(envelope.delivery_id)
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
        log.info(
            "command %s %s",
            envelope.command.type,
            status,
            extra={"command": envelope.command.type, "status": status, "reason": reason},
        )
        return status

    async def _attempt(self, envelope: CommandEnvelope) -> tuple[str, str | None, str | None]:
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

        # Whatever the outcome, first finish relaying what an earlier attempt left behind.
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
