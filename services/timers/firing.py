"""Claim due deadlines one at a time with a lease, and send each to the workflow once.

MongoDB holds every deadline (the relay mirrors them there), so a 14-day deadline
never sits in RabbitMQ, whose ``consumer_timeout`` would not let it. A claim is a
lease: if the worker dies after claiming, the lease runs out and another claim
resends; the command id is derived from the deadline, so the workflow applies it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import ExpireDeadline
from shared.domain.roles import Actor, Role

#: How long a claimed deadline is ours before another claim may resend it.
LEASE = timedelta(seconds=30)
#: The party recorded in history for what the clock did.
TIMER_ACTOR = Actor(id="timer", role=Role.SYSTEM)

SendCommand = Callable[[CommandEnvelope], Awaitable[None]]


def expiry_command(deadline: dict[str, Any], now: datetime) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=f"expire:{deadline['_id']}",
        delivery_id=deadline["delivery_id"],
        actor=TIMER_ACTOR,
        issued_at=now,
        command=ExpireDeadline(deadline_id=deadline["_id"]),
    )


class DeadlineFirer:
    def __init__(
        self, deadlines: AsyncCollection, send: SendCommand, clock: Callable[[], datetime]
    ):
        self.deadlines = deadlines
        self.send = send
        self.clock = clock

    async def claim(self, now: datetime) -> dict[str, Any] | None:
        return await self.deadlines.find_one_and_update(
            {
                "status": "active",
                "due_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
            },
            {"$set": {"lease_until": now + LEASE}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )

    async def fire_due(self) -> int:
        """Send every deadline due now; returns how many were sent."""
        sent = 0
        while (deadline := await self.claim(self.clock())) is not None:
            await self.send(expiry_command(deadline, self.clock()))
            # The relay later writes "fired" (or "cancelled") with a newer version.
            await self.deadlines.update_one(
                {"_id": deadline["_id"], "status": "active"},
                {"$set": {"status": "sent", "sent_at": self.clock()}},
            )
            sent += 1
        return sent
