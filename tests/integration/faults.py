"""What the fault tests share: calm deadlines, a client, fault pacing, and the check that
nothing was lost or done twice."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
from pymongo import MongoClient

from shared.contracts.queues import NOTIFICATIONS_QUEUE
from tests.integration.client import Api
from tests.integration.load import (
    COMMANDS_PER_BASIC_DELIVERY,
    EVENTS_PER_BASIC_DELIVERY,
    STALL_TIMEOUT,
    LoadReport,
    run_basic_deliveries,
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


async def run_under_fault(
    system: System,
    deliveries: int,
    report: LoadReport,
    fault: Callable[[Api], Awaitable[None]],
) -> None:
    """Run ``deliveries`` basic deliveries, :data:`CONCURRENCY` at a time, with ``fault(api)``
    beside them (it paces itself by ``report``); returns when both are done, and a failure of
    either ends the other."""
    async with api_for(system) as api, asyncio.TaskGroup() as running:
        running.create_task(
            run_basic_deliveries(api, deliveries, concurrency=CONCURRENCY, report=report)
        )
        running.create_task(fault(api))


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


@dataclass(frozen=True)
class RunFigures:
    """What a fault run came to: each figure the fault tests require to be 0 is named."""

    deliveries: int
    accepted: int
    #: Accepted commands with no "applied" outcome, and transitions missing from a delivery.
    lost: int
    #: Transitions applied more than once (the same command twice in a history).
    duplicated_transitions: int
    emails: int
    missing_emails: int
    duplicated_emails: int

    def faults(self) -> int:
        return sum(
            (self.lost, self.duplicated_transitions, self.missing_emails, self.duplicated_emails)
        )

    def __str__(self) -> str:
        return (
            f"{self.deliveries} deliveries, {self.accepted} commands accepted (202); "
            f"lost {self.lost}, duplicated transitions {self.duplicated_transitions}, "
            f"emails {self.emails} (missing {self.missing_emails}, "
            f"duplicated {self.duplicated_emails})"
        )


async def run_figures(system: System, mail: MailSink, report: LoadReport) -> RunFigures:
    """Count what a basic-process run lost or did twice: in the database (histories and
    command outcomes) and in the SMTP sink (one email per transition and party).

    Waits for every email expected (or for ``STALL_TIMEOUT`` s without one more), then for
    every outbox of the run to be relayed and for the notifier to have handled everything:
    a duplicate would come late. Leaves the system's notifier stopped.
    """
    transitions = len(EVENTS_PER_BASIC_DELIVERY)
    with MongoClient(system.env["DC_MONGO_URL"]) as client:
        db = client[system.env["DC_MONGO_DB"]]
        documents = list(db.deliveries.find({"_id": {"$in": report.delivery_ids}}))
        lost = (len(report.delivery_ids) - len(documents)) * transitions
        duplicated_transitions = 0
        for document in documents:
            command_ids = [entry["command_id"] for entry in document["history"]]
            duplicated_transitions += len(command_ids) - len(set(command_ids))
            lost += max(transitions - len(set(command_ids)), 0)
            assert document["refusals"] == [], document["_id"]
        outcomes = Counter(
            c["status"] for c in db.command_outcomes.find({"_id": {"$in": sorted(report.accepted)}})
        )
        lost += len(report.accepted) - outcomes["applied"]

        ours = set(report.delivery_ids)
        expected = len(ours) * transitions * 2  # customer and ISV, each event
        with contextlib.suppress(TimeoutError):  # counted below as missing
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
    return RunFigures(
        deliveries=len(ours),
        accepted=len(report.accepted),
        lost=lost,
        duplicated_transitions=duplicated_transitions,
        emails=len(arrived),
        missing_emails=max(expected - len(per_transition), 0),
        duplicated_emails=sum(n - 1 for n in per_transition.values()),
    )


async def assert_exactly_once(system: System, mail: MailSink, report: LoadReport) -> RunFigures:
    """Every delivery completed once, every accepted command applied, one email per transition
    (:func:`run_figures`, all of whose faults must be 0). Leaves the notifier stopped."""
    figures = await run_figures(system, mail, report)
    assert figures.faults() == 0, figures
    return figures


def report_figures(request: pytest.FixtureRequest, title: str, figures: object) -> None:
    """Print a run's figures and keep them for the suite's closing summary
    (``tests/conftest.py``), which shows them even for a test run in another xdist worker."""
    line = f"{title}: {figures}"
    print(line)
    request.node.user_properties.append(("figures", line))
