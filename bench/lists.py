"""Each party's own list (``GET /me``) with 100,000 deliveries stored (issue 18).

    python3 -m bench.lists                      # 100,000 deliveries (about 2 minutes)
    python3 -m bench.lists --total 20000 --runs 20 --keep

Starts a FerretDB of its own (the project's patched build, on a free port, its files under
``<state dir>/bench/``, deleted afterwards unless ``--keep``) and a RabbitMQ virtual host of its
own, so the shared servers neither hold the documents nor get restarted. Then:

- **Seeding** (:func:`seed`, reusable: :class:`World` says who is who): the deliveries go
  straight into ``deliveries`` with ``insert_many``, as copies of documents the workflow's own
  store wrote (``harness.stored_along``: awaiting the demand, in delivery, awaiting
  confirmation, completed, completed after a round of changes, terminated), each with its own
  ids and parties, every time in it shifted to its own dates, and the fields the store writes
  (``day_fields``, ``list_fields``); ``delivery_days`` gets each day. They are opened evenly
  over the last year; each takes 2 to 20 days, so the older ones are finished (2% terminated,
  0.5% left stuck, which makes them overdue) and the newest are under way. One ISV has every
  20th delivery (5,000 of 100,000) and three products; one customer every 200th (500); the
  other customers have ten each, the other ISVs about a hundred.
- **The scorecard's facts** (:func:`seed_scorecards`), as ``bench.scorecards`` seeds them, and
  the table refreshed: the big ISV's list carries its scorecard section.
- **Timing**: the gateway as a real process on that database; ``GET /me`` with each party's
  list link, ``--runs`` times per case after three warm-ups, one request at a time, over
  HTTP: the big ISV's first page, its next page, its finished ones (``state=completed``), a
  product search, a typical customer and the big customer. Median and p95 in ms.

Figures go to ``bench/results/lists-<time>.json`` and the gateway's log to
``bench/logs/lists/``. More timings on the same data: add a :class:`Case` to :func:`cases` (or
call :func:`seed` and :func:`time_get` from another benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import random
import re
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from bench import scorecards
from bench.harness import (
    BASIC_STEPS,
    CONTACT,
    LOGS,
    REWORKED_STEPS,
    Isolated,
    ServiceProcess,
    command_path_env,
    free_port,
    isolated,
    percentile,
    private_ferretdb,
    rounded,
    stored_along,
    wait_ready,
    write_results,
)
from services.runtime.collections import DELIVERIES, DELIVERY_DAYS, ensure_indexes
from services.runtime.delivery_days import day_fields, listed_days
from services.runtime.list_links import sign_list_link
from services.runtime.party_lists import DONE, LIST_FIELD, OTHERS, YOURS, list_fields_of, list_key
from services.runtime.scorecards import ScorecardBook
from shared.config import Settings
from shared.domain.commands import SubmitDemand, Terminate
from shared.domain.ids import delivery_id_for
from shared.domain.roles import Role
from shared.domain.score_periods import Period
from tooling.ferretdb import ferretdb_binary
from tooling.provision import ensure_rabbitmq

#: The link secret of the benchmark's gateway (its list links are signed with it).
LINK_SECRET = "bench-link-secret-" + "x" * 32
INSERT_BATCH = 1_000
INSERT_PARALLEL = 2
WARM_UPS = 3
PROGRESS_SECONDS = 10.0
#: The page must answer within this many milliseconds (issue 18).
TARGET_MS = 100.0
#: The seed of the scorecard facts' random spread (``bench.scorecards``).
SCORECARD_SEED = 18


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


# --- who is who --------------------------------------------------------------------------------


def _share(k: int, salt: int) -> float:
    """A fixed pseudo-random number in [0, 1) for delivery ``k`` (Knuth's multiplicative hash)."""
    return ((k * 2654435761 + salt * 40503) % 2**32) / 2**32


@dataclass(frozen=True)
class World:
    """The seeded deliveries: delivery ``k`` (0 ≤ k < ``total``) is opened at
    :meth:`opened_at`, belongs to :meth:`customer_of` and :meth:`isv_of`, and is at the stage
    :meth:`plan` says by ``now``.

    One ISV (``big_isv``) has every ``big_isv_every``-th delivery, with three products; one
    customer (``big_customer``) every ``big_customer_every``-th; every other customer has ten
    deliveries (a hundred rows apart), every other ISV about ``total / 1000``.
    """

    total: int = 100_000
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    span: timedelta = timedelta(days=365)
    big_isv: str = "isv-big"
    big_isv_every: int = 20
    big_customer: str = "customer-big"
    big_customer_every: int = 200
    #: A customer with ten deliveries.
    customer: str = "customer-1"
    #: Days a delivery takes from opening to its end, at least and at most.
    shortest: timedelta = timedelta(days=2)
    longest: timedelta = timedelta(days=20)
    #: Of the deliveries old enough to be finished: terminated, and left stuck (overdue).
    terminated_share: float = 0.02
    stuck_share: float = 0.005

    def opened_at(self, k: int) -> datetime:
        """Evenly over ``span``, the newest just before ``now``."""
        return self.now - self.span + self.span * (k + 0.5) / self.total

    def isv_of(self, k: int) -> str:
        """The big ISV's, or one of a thousand others."""
        return self.big_isv if k % self.big_isv_every == 0 else f"isv-{k % 1000}"

    def customer_of(self, k: int) -> str:
        """The big customer's, or a customer with ten deliveries."""
        if k % self.big_customer_every == 7:
            return self.big_customer
        block, row = divmod(k, 1000)
        return f"customer-{block * 100 + row % 100}"

    def product_of(self, k: int) -> str:
        """The big ISV sells three products; the others one each."""
        if self.isv_of(k) == self.big_isv:
            return f"prod-big-{(k // self.big_isv_every) % 3}"
        return f"prod-{self.isv_of(k)}"

    def plan(self, k: int) -> tuple[str, datetime]:
        """(template, last change) of delivery ``k`` by ``now``: finished once its time is up
        (completed, or terminated, or stuck where it was one day in), else at the stage its
        progress reached."""
        opened = self.opened_at(k)
        takes = self.shortest + (self.longest - self.shortest) * _share(k, 1)
        if opened + takes <= self.now:
            fate = _share(k, 2)
            if fate < self.stuck_share:
                stage = "in_delivery" if fate < self.stuck_share / 2 else "awaiting_confirmation"
                return stage, opened + timedelta(days=1)
            if fate < self.stuck_share + self.terminated_share:
                return "terminated", opened + takes
            return ("reworked" if _share(k, 3) < 0.3 else "completed"), opened + takes
        progress = (self.now - opened) / takes
        stage = (
            "awaiting_demand"
            if progress < 0.2
            else "in_delivery"
            if progress < 0.7
            else "awaiting_confirmation"
        )
        # The last change: when the stage began.
        began = {"awaiting_demand": 0.0, "in_delivery": 0.2, "awaiting_confirmation": 0.7}
        return stage, opened + takes * began[stage]

    def count_of_big_isv(self) -> int:
        return len(range(0, self.total, self.big_isv_every))

    def count_of_big_customer(self) -> int:
        return len(range(7, self.total, self.big_customer_every))


# --- the documents -----------------------------------------------------------------------------


def _shifted(value: Any, delta: timedelta) -> Any:
    """``value`` copied with every datetime in it moved by ``delta``."""
    if isinstance(value, datetime):
        return value + delta
    if isinstance(value, dict):
        return {key: _shifted(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_shifted(item, delta) for item in value]
    return value


async def templates(db: Any) -> dict[str, dict[str, Any]]:
    """One document per stage, as the workflow's own store writes it (``stored_along``)."""
    now = datetime.now(UTC)
    basic = await stored_along(db, BASIC_STEPS, "customer-x", "isv-x", now)
    reworked = await stored_along(db, REWORKED_STEPS, "customer-x", "isv-x", now)
    terminated = await stored_along(
        db,
        [
            (Role.CUSTOMER, SubmitDemand(contact=CONTACT, demands="Five pages")),
            (Role.ADMIN, Terminate(reason="The order was refunded.")),
        ],
        "customer-x",
        "isv-x",
        now,
    )
    found = {
        "awaiting_demand": basic[0],
        "in_delivery": basic[1],
        "awaiting_confirmation": basic[2],
        "completed": basic[3],
        "reworked": reworked[-1],
        "terminated": terminated[-1],
    }
    return {name: copy.deepcopy(document) for name, document in found.items()}


def document(world: World, shapes: dict[str, dict[str, Any]], k: int) -> dict[str, Any]:
    """Delivery ``k`` as the store would have written it."""
    stage, updated = world.plan(k)
    template = shapes[stage]
    opened = world.opened_at(k)
    stored = _shifted(template, updated - template["updated_at"])
    order_id = f"bench-order-{k}"
    delivery_id = delivery_id_for(order_id)
    customer, isv = world.customer_of(k), world.isv_of(k)
    stored.update(
        {
            "_id": delivery_id,
            "delivery_id": delivery_id,
            "order_id": order_id,
            "product_id": world.product_of(k),
            "customer_id": customer,
            "customer_email": f"{customer}@customer.example.com",
            "isv_id": isv,
            "isv_email": f"{isv}@isv.example.com",
            "opened_at": opened,
            "updated_at": updated,
        }
    )
    stored.update(day_fields(opened, updated, state=stored["state"], isv_id=isv))
    stored.update(list_fields_of(stored))
    return stored


async def seed(db: Any, world: World, progress: Callable[[str], None] = log) -> dict[str, Any]:
    """Store ``world``'s deliveries in ``db`` (with the product's indexes and the days'
    records); seconds taken and deliveries per second."""
    await ensure_indexes(db)
    shapes = await templates(db)
    batches = iter(range(0, world.total, INSERT_BATCH))
    recorded: set[str] = set()
    done = 0
    began = last = time.monotonic()

    async def inserter() -> None:
        nonlocal done, last
        for first in batches:
            documents = [
                document(world, shapes, k)
                for k in range(first, min(world.total, first + INSERT_BATCH))
            ]
            await db[DELIVERIES].insert_many(documents, ordered=False)
            for day in set().union(*map(listed_days, documents)) - recorded:
                recorded.add(day)
                with contextlib.suppress(DuplicateKeyError):
                    await db[DELIVERY_DAYS].insert_one({"_id": day})
            done += len(documents)
            if time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                progress(f"  {done:,} of {world.total:,} stored")

    await asyncio.gather(*(inserter() for _ in range(INSERT_PARALLEL)))
    seconds = time.monotonic() - began
    progress(f"  {world.total:,} stored in {seconds:.1f} s")
    return {"seconds": round(seconds, 1), "per_s": round(world.total / seconds, 1)}


async def list_sizes(db: Any, world: World) -> dict[str, dict[str, int]]:
    """How many of each timed party's deliveries are in each group of their list (read once,
    by the plan, not the database: counting there reads every document)."""
    sizes: dict[str, dict[str, int]] = {}
    parties = {
        "isv": (Role.ISV, world.big_isv),
        "big_customer": (Role.CUSTOMER, world.big_customer),
        "customer": (Role.CUSTOMER, world.customer),
    }
    for name, (role, party) in parties.items():
        counts = {YOURS: 0, OTHERS: 0, DONE: 0}
        owner = world.isv_of if role == Role.ISV else world.customer_of
        for k in range(world.total):
            if owner(k) != party:
                continue
            stage, _ = world.plan(k)
            key = list_fields_of(
                {
                    "process": "basic",
                    "state": "completed" if stage == "reworked" else stage,
                    "customer_id": world.customer_of(k),
                    "isv_id": world.isv_of(k),
                    "updated_at": world.now,
                }
            )[LIST_FIELD[role]]
            counts[key.split("/")[1]] += 1
        sizes[name] = counts
    # One check against the database: the big ISV's waiting group is what the plan says.
    waiting = await db[DELIVERIES].count_documents(
        {LIST_FIELD[Role.ISV]: list_key(world.big_isv, YOURS)}
    )
    assert waiting == sizes["isv"][YOURS], (waiting, sizes["isv"])
    return sizes


# --- the gateway and the timings ---------------------------------------------------------------


@contextlib.contextmanager
def gateway(iso: Isolated) -> Iterator[str]:
    """The gateway as a real process on ``iso``'s database; yields its base URL."""
    port = free_port()
    env = command_path_env(iso, port, smtp_port=1)
    env["DC_LINK_SECRET"] = LINK_SECRET
    process = ServiceProcess("gateway", env, LOGS / "lists" / "gateway.log")
    process.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_ready([process], "", {}, base_url)
        yield base_url
    finally:
        process.stop()


def list_path(role: Role, party: str, **query: str) -> str:
    """``/me`` with ``party``'s list link (signed with :data:`LINK_SECRET`) and ``query``."""
    settings = Settings(link_secret=LINK_SECRET)
    token = sign_list_link(settings, party, role)
    extra = "".join(f"&{name}={value}" for name, value in query.items())
    return f"/me?t={token}{extra}"


_NEXT = re.compile(r'<a href="([^"]+)" id="next-page"')
_ROW = re.compile(r'<tr id="row-[0-9a-f]{32}"')


def next_path(html: str) -> str | None:
    """The page's "next page" link, if it has one."""
    found = _NEXT.search(html)
    return unescape(found.group(1)) if found else None


async def time_get(
    session: aiohttp.ClientSession, base_url: str, path: str, runs: int
) -> dict[str, Any]:
    """``runs`` GETs of ``path`` one after another (after :data:`WARM_UPS` not counted):
    median, p95 and slowest ms, and the rows the page showed."""
    times: list[float] = []
    html = ""
    for attempt in range(WARM_UPS + runs):
        began = time.perf_counter()
        async with session.get(base_url + path) as response:
            html = await response.text()
            if response.status != 200:
                raise RuntimeError(f"GET {path[:60]}…: {response.status} {html[:300]}")
        if attempt >= WARM_UPS:
            times.append((time.perf_counter() - began) * 1000)
    return {
        "median_ms": rounded(statistics.median(times), 1),
        "p95_ms": rounded(percentile(times, 0.95), 1),
        "max_ms": rounded(max(times), 1),
        "runs": runs,
        "rows": len(_ROW.findall(html)),
        "next_page": next_path(html) is not None,
    }


@dataclass
class Case:
    """One timed request: its name and how to find its path (given the first page's HTML of
    the big ISV's list, for the cases that follow its links)."""

    name: str
    path: Callable[[World, str], str]


def cases() -> list[Case]:
    """The timed requests, in order."""

    def isv(world: World, _: str, **query: str) -> str:
        return list_path(Role.ISV, world.big_isv, **query)

    def following(world: World, first_page: str) -> str:
        found = next_path(first_page)
        assert found, "the big ISV's list has a next page"
        return found

    return [
        Case("big ISV, first page", isv),
        Case("big ISV, next page", following),
        Case("big ISV, finished (state=completed)", lambda w, p: isv(w, p, state="completed")),
        Case("big ISV, product search", lambda w, p: isv(w, p, q="prod-big-1")),
        Case("customer (10 deliveries)", lambda w, _: list_path(Role.CUSTOMER, w.customer)),
        Case("big customer", lambda w, _: list_path(Role.CUSTOMER, w.big_customer)),
    ]


async def measure(base_url: str, world: World, runs: int) -> dict[str, Any]:
    """Every :func:`cases` request, timed."""
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession() as session:
        async with session.get(base_url + list_path(Role.ISV, world.big_isv)) as response:
            first_page = await response.text()
        for case in cases():
            path = case.path(world, first_page)
            log(f"  {case.name}")
            figures[case.name] = await time_get(session, base_url, path, runs)
    return figures


def print_report(figures: dict[str, Any]) -> None:
    world = figures["world"]
    print(
        f"\n=== GET /me with {world['total']:,} deliveries stored "
        f"(big ISV {world['big_isv_deliveries']:,}, big customer "
        f"{world['big_customer_deliveries']:,})"
    )
    for name, sizes in figures["list_sizes"].items():
        print(f"  {name}: " + ", ".join(f"{group} {count:,}" for group, count in sizes.items()))
    facts = figures["scorecard_facts"]
    print(
        f"  scorecard facts: {facts['deliveries']:,} deliveries in {facts['day_documents']:,} "
        f"day documents; the big ISV's {facts['big_isv']:,} (its list shows its scorecard)"
    )
    width = max(len(name) for name in figures["timings"])
    print(f"  {'case':<{width}}  rows  median ms  p95 ms  max ms")
    for name, timing in figures["timings"].items():
        print(
            f"  {name:<{width}}  {timing['rows']:>4}  {timing['median_ms']:>9}  "
            f"{timing['p95_ms']:>6}  {timing['max_ms']:>6}"
        )
    worst = max(t["p95_ms"] for t in figures["timings"].values())
    verdict = "PASS" if worst < TARGET_MS else "MISS"
    print(f"  {verdict}: the slowest p95 is {worst} ms (target: under {TARGET_MS:.0f} ms)")


async def seed_scorecards(db: Any, world: World) -> dict[str, int]:
    """The scorecard's read model as ``bench.scorecards`` seeds it (``world.total`` deliveries'
    facts over a year, 300 ISVs, the big ISV's 6,000), and the table refreshed: the big ISV's
    list shows its scorecard section, which reads its facts and the table beside the list."""
    now = world.now
    pool = scorecards.walk_pool(SCORECARD_SEED, now - timedelta(days=400))
    sizes = scorecards.isv_sizes(random.Random(SCORECARD_SEED), world.total, 300)
    documents, count = scorecards.seeded_documents(pool, sizes, now, SCORECARD_SEED)
    await scorecards.seed(db, documents)
    await ScorecardBook(db).refresh_table(Period.ending(now.date()), now, Settings().confirm_window)
    return {"deliveries": count, "big_isv": sizes[world.big_isv], "day_documents": len(documents)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=100_000, help="deliveries stored")
    parser.add_argument("--runs", type=int, default=50, help="timed requests per case")
    parser.add_argument("--keep", action="store_true", help="keep the FerretDB data directory")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = Settings()
    ensure_rabbitmq(settings)
    binary = ferretdb_binary(settings.state_dir)
    world = World(total=args.total)
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "world": {
            "total": world.total,
            "span_days": world.span.days,
            "big_isv_deliveries": world.count_of_big_isv(),
            "big_customer_deliveries": world.count_of_big_customer(),
        },
    }
    with (
        private_ferretdb(binary, settings.state_dir / "bench", args.keep) as server,
        isolated(settings, "dc_lists", server.url) as iso,
    ):

        async def prepare() -> None:
            client = AsyncMongoClient(server.url, tz_aware=True)
            try:
                db = client[iso.name]
                log(f"seeding {world.total:,} deliveries")
                figures["seed"] = await seed(db, world)
                figures["list_sizes"] = await list_sizes(db, world)
                log(f"seeding {world.total:,} deliveries' scorecard facts, refreshing the table")
                figures["scorecard_facts"] = await seed_scorecards(db, world)
            finally:
                await client.close()

        asyncio.run(prepare())
        log("timing GET /me through the gateway")
        with gateway(iso) as base_url:
            figures["timings"] = asyncio.run(measure(base_url, world, args.runs))
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = write_results("lists", figures)
    print_report(figures)
    print(f"\n  written to {out}")


if __name__ == "__main__":
    main()
