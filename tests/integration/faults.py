"""What the fault tests share: calm deadlines, a client, fault pacing, and the check that
nothing was lost or done twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from pymongo import MongoClient

from shared.contracts.queues import NOTIFICATIONS_QUEUE
from tests.integration.client import Api
from tests.integration.load import (
    COMMANDS_PER_BASIC_DELIVERY,
    EVENTS_PER_BASIC_DELIVERY,
    STALL_TIMEOUT,
    LoadReport,
)
from tests.integration.system import System
from tests.integration.waiting import stop_drained, until
from tooling.mailsink import MailSink

#: Deadlines far away, so that only the parties move these deliveries.
CALM = {"DC_CONFIRM_WINDOW": "P14D", "DC_REMINDER_LEAD": "P3D"}
#: Deliveries run at once: every fault finds about this many commands in flight.
CONCURRENCY = 40


def label(request) -> str:
    """A log folder name for the test's own system."""
    return request.node.name[:40]


@asynccontextmanager
async def api_for(system: System) -> AsyncIterator[Api]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Api(session, system.base_url, system.jwt_secret)


def progress_points(deliveries: int, faults: int) -> list[int]:
    """Applied-command counts at which to inject ``faults`` faults, spread over the run."""
    total = deliveries * COMMANDS_PER_BASIC_DELIVERY
    return [total * n // (faults + 1) for n in range(1, faults + 1)]


async def _arrived(mail: MailSink, ours: set[str], expected: int) -> None:
    """Until ``expected`` emails about ``ours`` arrived; fails only if none came for
    ``STALL_TIMEOUT`` s, so a slow machine just takes longer."""
    while True:
        count = sum(1 for m in list(mail.messages) if m["X-Delivery-Id"] in ours)
        if count >= expected:
            return
        await mail.wait_for_async(
            lambda m: m["X-Delivery-Id"] in ours, timeout=STALL_TIMEOUT, count=count + 1
        )


async def assert_exactly_once(system: System, mail: MailSink, report: LoadReport) -> None:
    """Every delivery completed once, every accepted command applied, one email per transition.

    Leaves the system's notifier stopped.
    """
    with MongoClient(system.env["DC_MONGO_URL"]) as client:
        db = client[system.env["DC_MONGO_DB"]]
        documents = list(db.deliveries.find({"_id": {"$in": report.delivery_ids}}))
        assert len(documents) == len(report.delivery_ids)
        for document in documents:
            command_ids = [entry["command_id"] for entry in document["history"]]
            assert document["state"] == "completed", document["_id"]
            assert document["version"] == len(command_ids) == 4, document["_id"]
            assert len(set(command_ids)) == len(command_ids), f"duplicated: {command_ids}"
            assert document["refusals"] == []
        outcomes = Counter(
            c["status"] for c in db.command_outcomes.find({"_id": {"$in": sorted(report.accepted)}})
        )
        assert outcomes == {"applied": len(report.accepted)}, outcomes

        ours = set(report.delivery_ids)
        expected = len(ours) * len(EVENTS_PER_BASIC_DELIVERY) * 2  # customer and ISV, each event
        await _arrived(mail, ours, expected)
        # A duplicate would come late: from an outbox a crash left unrelayed (the workflow's
        # sweep relays it again), or from a redelivered event. Wait until every outbox of ours
        # is relayed, then until the notifier has handled everything it was given.
        await until(
            lambda: (
                db.deliveries.count_documents({"_id": {"$in": sorted(ours)}, "outbox": {"$ne": []}})
                == 0
            ),
            "every outbox of the run relayed",
        )
    await stop_drained(system, "notifier", NOTIFICATIONS_QUEUE)
    arrived = [m for m in list(mail.messages) if m["X-Delivery-Id"] in ours]
    per_transition = Counter((m["X-Delivery-Id"], m["X-Event-Type"], m["To"]) for m in arrived)
    duplicated = {key: n for key, n in per_transition.items() if n > 1}
    assert not duplicated, duplicated
    assert len(arrived) == expected
