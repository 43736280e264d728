"""Drive many deliveries through the basic process at once, as clients that retry on 503 would.

Nothing here waits for a fixed time. A run lasts as long as the work takes on this machine,
loaded or not, and fails only when the system stops making progress: no command applied for
``stall_timeout`` seconds. Fault injectors pace themselves by the same progress
(``LoadReport.wait_until_applied``), so a fault always lands while work is in flight.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.integration.client import Api, Party

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
#: The basic process as (role, command) steps after opening, and the emails each transition sends.
BASIC_STEPS = (
    ("customer", {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}),
    ("isv", {"type": "finish", "note": "done"}),
    ("customer", {"type": "confirm"}),
)
#: Commands one basic delivery takes: opening it, then each step.
COMMANDS_PER_BASIC_DELIVERY = 1 + len(BASIC_STEPS)
EVENTS_PER_BASIC_DELIVERY = (
    "delivery_opened",
    "demand_submitted",
    "stage_finished",
    "stage_confirmed",
)

#: How often a client asks for a command's outcome (every poll reads the database).
POLL_SECONDS = 0.25
#: How often a client retries a request the gateway refused with 503.
RETRY_SECONDS = 0.25
#: A run fails when no command was applied for this long: the system is stuck, not slow.
#: It must outlast the longest outage a test causes (a broker restart under load).
STALL_TIMEOUT = 120.0
#: What a command may take on a loaded machine, for a whole run's ceiling. Quiet, this 2-core
#: machine applies about ten commands a second under the fault tests; this allows ten times less.
LOADED_SECONDS_PER_COMMAND = 1.0


def work_timeout(deliveries: int) -> float:
    """A ceiling (pytest-timeout) for a test that runs ``deliveries`` basic deliveries: time
    to start its servers, plus time for the work that grows with the work. Only a hung test
    reaches it; a stuck system fails sooner, by ``STALL_TIMEOUT``."""
    return 2 * STALL_TIMEOUT + deliveries * COMMANDS_PER_BASIC_DELIVERY * LOADED_SECONDS_PER_COMMAND


@dataclass
class LoadReport:
    delivery_ids: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)
    #: Command ids the gateway answered 202 for.
    accepted: set[str] = field(default_factory=set)
    #: The gateway's answers to the clients' outcome polls (GET, read from the database).
    polls: Counter = field(default_factory=Counter)
    #: Commands the clients have seen applied so far.
    applied: int = 0
    #: ``time.monotonic()`` of the last applied command (or of the start).
    last_progress: float = field(default_factory=time.monotonic)
    finished: bool = False

    def count_applied(self) -> None:
        self.applied += 1
        self.last_progress = time.monotonic()

    async def wait_until_applied(self, count: int) -> None:
        """Until the clients have seen ``count`` commands applied; the run's own stall
        timeout fails the test if that never happens."""
        while self.applied < count:
            if self.finished:
                raise AssertionError(f"the run ended after {self.applied} of {count} commands")
            await asyncio.sleep(0.05)

    def refusals(self) -> int:
        """503 answers so far, to requests and to outcome polls."""
        return self.answers[503] + self.polls[503]

    async def wait_for_refusal(self, more_than: int, timeout: float = STALL_TIMEOUT) -> None:
        """Until a client gets a 503 after ``more_than`` of them: it noticed an outage."""
        deadline = time.monotonic() + timeout
        while self.refusals() <= more_than:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no client got a 503 within {timeout} s: answers {dict(self.answers)}, "
                    f"polls {dict(self.polls)}"
                )
            await asyncio.sleep(0.05)


async def _until_accepted(report: LoadReport, send: Any) -> dict[str, Any]:
    """Send until the gateway accepts; a 503 means nothing was accepted, so retrying is safe.
    The run's stall timeout ends a gateway that never accepts again."""
    while True:
        status, answer = await send()
        report.answers[status] += 1
        if status == 202:
            report.accepted.add(answer["command_id"])
            return answer
        assert status == 503, (status, answer)
        await asyncio.sleep(RETRY_SECONDS)


async def _outcome(api: Api, report: LoadReport, command_id: str, party: Party) -> dict[str, Any]:
    while True:
        status, answer = await api.request("GET", f"/v1/commands/{command_id}", party)
        report.polls[status] += 1
        if status == 200 and answer["status"] != "accepted":
            if answer["status"] == "applied":
                report.count_applied()
            return answer
        assert status in (200, 503), (status, answer)
        await asyncio.sleep(POLL_SECONDS)


async def run_one(api: Api, report: LoadReport) -> None:
    marketplace, customer, isv = api.party("marketplace"), api.party("customer"), api.party("isv")
    parties = {"customer": customer, "isv": isv}
    body = {
        "order_id": f"order-{uuid.uuid4().hex}",
        "order_spec": "Company website",
        "product_id": "prod-website",
        "isv_id": isv.sub,
        "customer_id": customer.sub,
        "customer_email": f"{customer.sub}@customer.example.com",
        "isv_email": f"{isv.sub}@isv.example.com",
        "process": "basic",
    }
    opened = await _until_accepted(
        report, lambda: api.request("POST", "/v1/deliveries", marketplace, json=body)
    )
    delivery_id = opened["delivery_id"]
    report.delivery_ids.append(delivery_id)
    outcome = await _outcome(api, report, opened["command_id"], marketplace)
    assert outcome["status"] == "applied", outcome
    for role, command in BASIC_STEPS:
        # The same key on every retry: a retried request is the same command.
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        party = parties[role]
        answer = await _until_accepted(
            report,
            lambda party=party, command=command, headers=headers: api.send(
                delivery_id, party, command, headers=headers
            ),
        )
        outcome = await _outcome(api, report, answer["command_id"], parties[role])
        assert outcome["status"] == "applied", outcome


async def run_basic_deliveries(
    api: Api,
    count: int,
    *,
    concurrency: int,
    report: LoadReport | None = None,
    stall_timeout: float = STALL_TIMEOUT,
) -> LoadReport:
    """Run ``count`` basic deliveries to the end, ``concurrency`` at a time."""
    report = report if report is not None else LoadReport()
    report.last_progress = time.monotonic()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run_one(api, report)

    async def watch() -> None:
        while True:
            await asyncio.sleep(1)
            idle = time.monotonic() - report.last_progress
            if idle > stall_timeout:
                raise TimeoutError(
                    f"no command applied for {idle:.0f} s: {report.applied} of "
                    f"{count * COMMANDS_PER_BASIC_DELIVERY} applied, answers {dict(report.answers)}"
                )

    work = asyncio.gather(*(one() for _ in range(count)))
    watchdog = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({work, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            watchdog.result()  # raises the stall
        work.result()
    finally:
        report.finished = True
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
    return report
