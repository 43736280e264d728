"""The ISV scorecard at 100,000 deliveries (issue 18): ``GET /v1/isvs/{isv_id}/scorecard``
through a real gateway process, and one refresh of the table of every ISV.

    python3 -m bench.scorecards                  # 100,000 deliveries, 300 ISVs (2-3 minutes)
    python3 -m bench.scorecards --deliveries 20000 --requests 20

Seeding: a pool of deliveries is walked through the real engine (``shared.domain.engine``),
each of the four processes, by ISVs of ten levels of quality (slower work, more rework,
disputes, terminations and automatic confirmations the lower it is), with a snapshot of
``facts_of`` after every step. Each of the 100,000 deliveries is opened at a random moment of
the last year by one of 300 ISVs (one big ISV with 6,000, the others from a few to a few
hundred), takes a walk of its ISV's level, and is filed with the facts of the last step it had
reached by now (so recent deliveries are still under way). The facts go straight into
``scorecard_days`` of a scratch database, in the documents ``ScorecardBook.record`` writes.

Measured: the scorecard of the big ISV and of a typical one (the median ISV by deliveries),
``--requests`` times each after a warm-up, over HTTP from a gateway process on the scratch
database (median and p95 ms); the same through ``ScorecardBook`` in this process, split into
reading the facts and computing; and one ``refresh_table`` (what the timer worker does every
``DC_SCORECARD_REFRESH``). The target is a scorecard under 100 ms. The scratch database and
virtual host are dropped afterwards; figures go to ``bench/results/scorecards-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from bench.harness import (
    LOGS,
    ServiceProcess,
    command_path_env,
    free_port,
    isolated,
    percentile,
    rounded,
    token,
    wait_ready,
    write_results,
)
from services.runtime.collections import CLIENT_OPTIONS, ensure_indexes
from services.runtime.scorecards import (
    SCORECARD_DAYS,
    ScorecardBook,
    day_document_id,
    facts_line,
)
from services.runtime.scorecards import _remembered as remembered_lines
from shared.config import Settings
from shared.domain.commands import (
    Confirm,
    ConfirmWarranty,
    Contact,
    ExpireDeadline,
    Finish,
    OpenDelivery,
    OpenDispute,
    RequestChanges,
    RequestWarrantyService,
    ResolveDispute,
    SubmitDemand,
    Terminate,
    UploadContract,
)
from shared.domain.delivery import Delivery
from shared.domain.delivery_facts import DeliveryFacts, facts_of
from shared.domain.engine import Applied, Policy, decide, open_delivery
from shared.domain.files import FileFacts
from shared.domain.roles import Actor, Role
from shared.domain.score_periods import Period, day_key
from shared.domain.scorecard import scorecard_of
from shared.domain.states import DeadlineKind, ProcessName, State

DAY = timedelta(days=1)
POLICY = Policy(confirm_window=timedelta(days=14), reminder_lead=timedelta(days=3))
PATIENCE = POLICY.confirm_window
CONTACT = Contact(name="Ada Buyer", phone="+49 30 1234567", email="ada@customer.example.com")
CONTRACT_ID = "c" * 32
MARKETPLACE = Actor(id="shop", role=Role.MARKETPLACE)
CUSTOMER = Actor(id="customer", role=Role.CUSTOMER)
ISV = Actor(id="isv", role=Role.ISV)
ADMIN = Actor(id="admin", role=Role.ADMIN)
SYSTEM = Actor(id="timer", role=Role.SYSTEM)
#: The processes' shares of the deliveries.
PROCESS_MIX = (
    (ProcessName.BASIC, 0.4),
    (ProcessName.DOUBLE_CHECK, 0.2),
    (ProcessName.CONTRACT, 0.2),
    (ProcessName.STEPWISE, 0.2),
)
QUALITY_LEVELS = 10
WALKS_PER_LEVEL = 300
BIG_ISV = "isv-big"
BIG_ISV_DELIVERIES = 6_000
#: Documents per insert_many.
BATCH = 500


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- walking deliveries through the engine ------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One delivery's facts after a step, ``elapsed`` seconds after its opening."""

    elapsed: float
    facts: DeliveryFacts


class Walk:
    """One delivery driven through the engine by an ISV of quality ``quality`` (0.5 poor, 1
    excellent) and a customer, with random but plausible waits."""

    def __init__(self, rng: random.Random, process: ProcessName, quality: float, start: datetime):
        self.rng, self.quality, self.start = rng, quality, start
        order_id = f"order-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        command = OpenDelivery(
            order_id=order_id,
            order_spec="Company website, 5 pages",
            product_id="prod-website",
            isv_id=ISV.id,
            customer_id=CUSTOMER.id,
            customer_email="ada@customer.example.com",
            isv_email="sales@isv.example.com",
            process=process,
            warranty_period=timedelta(days=30) if process == ProcessName.DOUBLE_CHECK else None,
        )
        decision = open_delivery(command, MARKETPLACE, command_id=f"open-{order_id}", now=start)
        assert isinstance(decision, Applied), decision
        self.delivery: Delivery = decision.delivery
        self.now = start
        self.files = {
            CONTRACT_ID: FileFacts(
                CONTRACT_ID, self.delivery.delivery_id, "contract.pdf", 48_000, "pdf"
            )
        }
        self.snapshots = [Snapshot(0.0, facts_of(self.delivery))]
        self._count = 0

    def days(self, median: float) -> timedelta:
        """A wait of about ``median`` days (log-normal, so a few take much longer)."""
        return timedelta(days=median * math.exp(self.rng.gauss(0, 0.6)))

    def send(self, command: Any, actor: Actor, after: timedelta) -> None:
        self.now += after
        self._count += 1
        decision = decide(
            self.delivery,
            command,
            actor,
            command_id=f"cmd-{self._count}",
            now=self.now,
            policy=POLICY,
            files=self.files,
        )
        assert isinstance(decision, Applied), (command, decision)
        self.delivery = decision.delivery
        elapsed = (self.now - self.start).total_seconds()
        self.snapshots.append(Snapshot(elapsed, facts_of(self.delivery)))

    def expire(self, kind: DeadlineKind) -> None:
        deadline = next(
            d for d in self.delivery.deadlines if d.kind == kind and d.status == "active"
        )
        assert deadline.due_at is not None
        # Due already if the customer's requests took longer than the warranty: fired now.
        after = max(timedelta(0), deadline.due_at - self.now)
        self.send(ExpireDeadline(deadline_id=deadline.deadline_id), SYSTEM, after)

    def run(self) -> list[Snapshot]:
        """Walk until completed or terminated (at most 40 steps)."""
        poor = 1.0 - self.quality  # 0 (excellent) to 0.5 (poor)
        for _ in range(40):
            state = self.delivery.state
            if state in (State.COMPLETED, State.TERMINATED):
                break
            roll = self.rng.random()
            if roll < 0.01 + 0.04 * poor:
                self.send(Terminate(reason="order refunded"), ADMIN, self.days(3))
                continue
            if roll < 0.02 + 0.12 * poor and state != State.AWAITING_DEMAND:
                opener = ISV if self.rng.random() < 0.3 else CUSTOMER
                self.send(OpenDispute(reason="scope"), opener, self.days(2))
                outcome = "terminate" if self.rng.random() < 0.3 + poor else "continue"
                self.send(ResolveDispute(outcome=outcome), ADMIN, self.days(2))
                continue
            self.step(state, poor)
        return self.snapshots

    def step(self, state: State, poor: float) -> None:
        """The party whose turn it is acts."""
        work = self.days(2 + 12 * poor)
        review = self.days(1 + 2 * poor)
        if state == State.AWAITING_DEMAND:
            self.send(SubmitDemand(contact=CONTACT, demands="A shop"), CUSTOMER, self.days(1))
        elif state == State.AWAITING_CONTRACT:
            self.send(UploadContract(attachment=CONTRACT_ID), ISV, self.days(1 + 4 * poor))
        elif state in (
            State.IN_DELIVERY,
            State.FUNCTIONAL_DESIGN,
            State.UED,
            State.DEVELOPMENT_TESTING,
        ):
            self.send(Finish(note="done"), ISV, work)
        elif state == State.IN_WARRANTY:
            if self.rng.random() < 0.15 + 0.8 * poor:
                self.send(RequestWarrantyService(description="broken"), CUSTOMER, self.days(5))
            elif self.rng.random() < 0.5:
                self.send(ConfirmWarranty(), CUSTOMER, self.days(10))
            else:
                self.expire(DeadlineKind.WARRANTY)
        elif self.rng.random() < 0.08 + 0.5 * poor:
            self.send(RequestChanges(reason="not yet"), CUSTOMER, review)
        elif state == State.AWAITING_CONFIRMATION and self.rng.random() < 0.1 + 0.5 * poor:
            self.expire(DeadlineKind.CONFIRMATION_WINDOW)
        else:
            self.send(Confirm(), CUSTOMER, review)


def walk_pool(seed: int, start: datetime) -> list[list[list[Snapshot]]]:
    """``WALKS_PER_LEVEL`` walks of each quality level: ``pool[level][walk]`` is the walk's
    snapshots, oldest first."""
    rng = random.Random(seed)
    processes = [p for p, _ in PROCESS_MIX]
    weights = [w for _, w in PROCESS_MIX]
    pool = []
    for level in range(QUALITY_LEVELS):
        quality = 0.5 + 0.5 * level / (QUALITY_LEVELS - 1)
        pool.append(
            [
                Walk(rng, rng.choices(processes, weights)[0], quality, start).run()
                for _ in range(WALKS_PER_LEVEL)
            ]
        )
    return pool


# --- seeding the read model --------------------------------------------------------------------


def isv_sizes(rng: random.Random, deliveries: int, isvs: int) -> dict[str, int]:
    """How many deliveries each ISV opened in the year: one big ISV with
    ``BIG_ISV_DELIVERIES``, the rest by a long-tailed spread."""
    others = [f"isv-{n:03d}" for n in range(isvs - 1)]
    weights = [1 / (n + 8) ** 0.9 * rng.uniform(0.6, 1.4) for n in range(len(others))]
    rest = deliveries - BIG_ISV_DELIVERIES
    total = sum(weights)
    sizes = {isv: max(1, round(rest * w / total)) for isv, w in zip(others, weights, strict=True)}
    sizes[others[0]] += rest - sum(sizes.values())
    return {BIG_ISV: BIG_ISV_DELIVERIES, **sizes}


def seeded_documents(
    pool: list[list[list[Snapshot]]], sizes: dict[str, int], now: datetime, seed: int
) -> tuple[list[dict[str, Any]], int]:
    """The ``scorecard_days`` documents of every delivery: ``(documents, deliveries)``."""
    rng = random.Random(seed + 1)
    days: dict[str, dict[str, str]] = defaultdict(dict)
    count = 0
    for isv, size in sizes.items():
        level = rng.randrange(QUALITY_LEVELS) if isv != BIG_ISV else QUALITY_LEVELS // 2
        for _ in range(size):
            opened_at = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
            age = (now - opened_at).total_seconds()
            snapshots = rng.choice(pool[level])
            reached = [s for s in snapshots if s.elapsed <= age][-1].facts
            shift = opened_at - reached.opened_at
            facts = reached.model_copy(
                update={
                    "delivery_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                    "isv_id": isv,
                    "opened_at": opened_at,
                    "isv_waiting_since": reached.isv_waiting_since + shift
                    if reached.isv_waiting_since
                    else None,
                }
            )
            days[day_document_id(day_key(opened_at), isv)][facts.delivery_id] = facts_line(facts)
            count += 1
    # As ScorecardBook.record writes them: one line per delivery.
    documents = [
        {
            "_id": key,
            "day": key.split("|", 1)[0],
            "isv_id": key.split("|", 1)[1],
            "revision": len(lines),
            "facts": "\n".join(lines.values()),
        }
        for key, lines in days.items()
    ]
    return documents, count


async def seed(db: Any, documents: list[dict[str, Any]]) -> None:
    await ensure_indexes(db)
    for start in range(0, len(documents), BATCH):
        await db[SCORECARD_DAYS].insert_many(documents[start : start + BATCH], ordered=False)


# --- measuring ---------------------------------------------------------------------------------


def spread_ms(samples: list[float]) -> dict[str, float | None]:
    """Median and p95 (nearest rank) of ``samples`` in seconds, as milliseconds."""
    return {
        "median_ms": rounded(statistics.median(samples) * 1000),
        "p95_ms": rounded((percentile(samples, 0.95) or 0) * 1000),
        "max_ms": rounded(max(samples) * 1000),
    }


async def over_http(base_url: str, isv: str, requests: int, query: str = "") -> dict[str, Any]:
    """``requests`` timed GETs of ``isv``'s scorecard (after 3 untimed), as the ISV itself;
    ``first_ms``: the first, which finds none of the ISV's facts remembered by the gateway."""
    headers = {"Authorization": f"Bearer {token(isv, 'isv')}"}
    url = f"{base_url}/v1/isvs/{isv}/scorecard{query}"
    samples: list[float] = []
    answer: dict[str, Any] = {}
    first = 0.0
    async with aiohttp.ClientSession() as session:
        for n in range(requests + 3):
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                answer = await response.json()
                assert response.status == 200, answer
            if n == 0:
                first = time.perf_counter() - started
            if n >= 3:
                samples.append(time.perf_counter() - started)
    return {
        "first_ms": rounded(first * 1000),
        **spread_ms(samples),
        "opened_in_period": answer["figures"]["opened"],
        "score": answer["score"]["total"],
        "previous_score": answer["previous_score"],
    }


async def in_process(db: Any, isv: str, now: datetime, requests: int) -> dict[str, Any]:
    """The same scorecard through ``ScorecardBook`` in this process: reading the facts of
    both periods (``cold``: none of the lines remembered from an earlier read; ``read``: as
    a gateway reads them again), and computing the scorecard from them."""
    book = ScorecardBook(db)
    period = Period.ending(now.date())
    reads, computes, colds = [], [], []
    facts: list[DeliveryFacts] = []
    for _ in range(requests):
        remembered_lines.cache_clear()
        started = time.perf_counter()
        await book.facts_of_isv(isv, period.previous().first, period.last)
        colds.append(time.perf_counter() - started)
    for n in range(requests + 3):
        started = time.perf_counter()
        facts = await book.facts_of_isv(isv, period.previous().first, period.last)
        read = time.perf_counter()
        scorecard_of(isv, period, facts, now, PATIENCE)
        if n >= 3:
            reads.append(read - started)
            computes.append(time.perf_counter() - read)
    return {
        "facts_read": len(facts),
        "cold_read": spread_ms(colds),
        "read": spread_ms(reads),
        "compute": spread_ms(computes),
    }


async def refresh_once(db: Any, now: datetime) -> dict[str, Any]:
    started = time.perf_counter()
    table = await ScorecardBook(db).refresh_table(Period.ending(now.date()), now, PATIENCE)
    return {
        "seconds": rounded(time.perf_counter() - started, 2),
        "isvs": len(table["rows"]),
        "marketplace_opened": table["marketplace"]["opened"],
    }


def start_gateway(iso: Any) -> tuple[ServiceProcess, str]:
    port = free_port()
    env = command_path_env(iso, port, smtp_port=1)
    gateway = ServiceProcess("gateway", env, LOGS / "scorecards" / "gateway.log").start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready([gateway], "", {}, base_url)
    except BaseException:
        gateway.stop()
        raise
    return gateway, base_url


async def run(deliveries: int, isvs: int, requests: int, seed_value: int) -> dict[str, Any]:
    settings = Settings()
    now = datetime.now(UTC)
    figures: dict[str, Any] = {
        "started_at": now.isoformat(),
        "deliveries": deliveries,
        "isvs": isvs,
        "requests": requests,
        # The machine may be shared: its load during the run says how quiet it was.
        "load_average_1min": {"start": os.getloadavg()[0]},
    }
    log(f"walking {QUALITY_LEVELS * WALKS_PER_LEVEL} deliveries through the engine")
    started = time.perf_counter()
    pool = walk_pool(seed_value, now - timedelta(days=400))
    snapshots = sum(len(w) for level in pool for w in level)
    figures["pool"] = {
        "walks": QUALITY_LEVELS * WALKS_PER_LEVEL,
        "snapshots": snapshots,
        "seconds": rounded(time.perf_counter() - started),
    }
    sizes = isv_sizes(random.Random(seed_value), deliveries, isvs)
    ordered = sorted(sizes.items(), key=lambda item: item[1])
    typical = ordered[len(ordered) // 2][0]
    figures["isv_deliveries"] = {
        "big": sizes[BIG_ISV],
        "typical": sizes[typical],
        "smallest": ordered[0][1],
        "largest_other": ordered[-2][1],
    }
    documents, count = seeded_documents(pool, sizes, now, seed_value)
    assert count == deliveries, count
    with isolated(settings, prefix="dc_score") as iso:
        client: AsyncMongoClient = AsyncMongoClient(iso.mongo_url, **CLIENT_OPTIONS)
        try:
            db = client[iso.name]
            log(f"seeding {count:,} deliveries' facts in {len(documents):,} day documents")
            started = time.perf_counter()
            await seed(db, documents)
            figures["seed"] = {
                "day_documents": len(documents),
                "seconds": rounded(time.perf_counter() - started),
            }
            gateway, base_url = start_gateway(iso)
            try:
                log(f"timing the scorecard over HTTP: {BIG_ISV} and {typical}")
                figures["http"] = {
                    "big": await over_http(base_url, BIG_ISV, requests),
                    "typical": await over_http(base_url, typical, requests),
                    "big_365_days": await over_http(
                        base_url,
                        BIG_ISV,
                        max(5, requests // 5),
                        f"?from={(now - 364 * DAY).date()}&to={now.date()}",
                    ),
                }
                gateway.sample()
                figures["gateway_peak_rss_mib"] = rounded(gateway.peak_rss_mib)
            finally:
                gateway.stop()
            log("timing the scorecard in process, and one refresh of the table")
            figures["in_process"] = {
                "big": await in_process(db, BIG_ISV, now, requests),
                "typical": await in_process(db, typical, now, requests),
            }
            figures["refresh_table"] = await refresh_once(db, datetime.now(UTC))
        finally:
            await client.close()
    figures["load_average_1min"]["end"] = os.getloadavg()[0]
    figures["target_met"] = all(figures["http"][who]["p95_ms"] < 100 for who in ("big", "typical"))
    return figures


def print_report(figures: dict[str, Any]) -> None:
    http, local = figures["http"], figures["in_process"]
    sizes = figures["isv_deliveries"]
    print()
    print(
        f"{figures['deliveries']:,} deliveries, {figures['isvs']} ISVs; seeded in "
        f"{figures['seed']['seconds']} s ({figures['seed']['day_documents']:,} day documents)"
    )
    print("| GET /v1/isvs/{id}/scorecard, default 90 days | big ISV | typical ISV |")
    print("|---|---:|---:|")
    print(f"| deliveries in the year | {sizes['big']:,} | {sizes['typical']:,} |")
    print(
        f"| opened in the period (facts read, both periods) | {http['big']['opened_in_period']:,}"
        f" ({local['big']['facts_read']:,}) | {http['typical']['opened_in_period']:,}"
        f" ({local['typical']['facts_read']:,}) |"
    )
    print(f"| HTTP first request ms | {http['big']['first_ms']} | {http['typical']['first_ms']} |")
    for label, key in (("median", "median_ms"), ("p95", "p95_ms"), ("max", "max_ms")):
        print(f"| HTTP {label} ms | {http['big'][key]} | {http['typical'][key]} |")
    for part in ("cold_read", "read", "compute"):
        print(
            f"| in process: {part} median / p95 ms | {local['big'][part]['median_ms']} / "
            f"{local['big'][part]['p95_ms']} | {local['typical'][part]['median_ms']} / "
            f"{local['typical'][part]['p95_ms']} |"
        )
    year = http["big_365_days"]
    print(
        f"\nbig ISV, 365 days: median {year['median_ms']} ms, p95 {year['p95_ms']} ms "
        f"({year['opened_in_period']:,} deliveries)"
    )
    refresh = figures["refresh_table"]
    print(
        f"refresh_table: {refresh['seconds']} s for {refresh['isvs']} ISVs "
        f"({refresh['marketplace_opened']:,} deliveries in the period)"
    )
    print(f"gateway peak RSS {figures['gateway_peak_rss_mib']} MiB")
    load = figures["load_average_1min"]
    print(f"machine load (1 min) {load['start']:.1f} at the start, {load['end']:.1f} at the end")
    print(f"target (p95 under 100 ms): {'met' if figures['target_met'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=100_000)
    parser.add_argument("--isvs", type=int, default=300)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    figures = asyncio.run(run(args.deliveries, args.isvs, args.requests, args.seed))
    print_report(figures)
    print(f"\nfigures: {write_results('scorecards', figures)}")


if __name__ == "__main__":
    main()
