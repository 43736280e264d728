"""Drive many deliveries through the basic process at once, as clients that retry on 503 would."""

from __future__ import annotations

import asyncio
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
EVENTS_PER_BASIC_DELIVERY = (
    "delivery_opened",
    "demand_submitted",
    "stage_finished",
    "stage_confirmed",
)


#: How often a client asks for a command's outcome (every poll reads the database).
POLL_SECONDS = 1.0


@dataclass
class LoadReport:
    delivery_ids: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)
    #: Command ids the gateway answered 202 for.
    accepted: set[str] = field(default_factory=set)


async def _until_accepted(report: LoadReport, send: Any) -> dict[str, Any]:
    """Send until the gateway accepts; a 503 means nothing was accepted, so retrying is safe."""
    for _ in range(600):
        status, answer = await send()
        report.answers[status] += 1
        if status == 202:
            report.accepted.add(answer["command_id"])
            return answer
        assert status == 503, (status, answer)
        await asyncio.sleep(0.25)
    raise TimeoutError("the gateway never accepted the request")


async def _outcome(api: Api, command_id: str, party: Party, timeout: float) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        status, answer = await api.request("GET", f"/v1/commands/{command_id}", party)
        if status == 200 and answer["status"] != "accepted":
            return answer
        assert status in (200, 503), (status, answer)
        await asyncio.sleep(POLL_SECONDS)
    raise TimeoutError(f"command {command_id} was not applied within {timeout} s")


async def run_one(api: Api, report: LoadReport, timeout: float) -> None:
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
    outcome = await _outcome(api, opened["command_id"], marketplace, timeout)
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
        outcome = await _outcome(api, answer["command_id"], parties[role], timeout)
        assert outcome["status"] == "applied", outcome


async def run_basic_deliveries(
    api: Api, count: int, *, concurrency: int, timeout: float
) -> LoadReport:
    report = LoadReport()
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run_one(api, report, timeout)

    await asyncio.gather(*(one() for _ in range(count)))
    return report
