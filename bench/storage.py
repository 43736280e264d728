"""Benchmark the local database as deliveries accumulate: 1,000, 100,000 and 1,000,000 stored.

    python3 -m bench.storage [--sizes 1000,100000,1000000] [--quick] [--keep]
    python3 -m bench.storage ...

Starts a FerretDB of its own (the project's patched build, on a free port, its files in a new
directory under the state dir, deleted afterwards unless ``--keep``) and a RabbitMQ virtual
host of its own, so the shared servers neither hold the documents nor get restarted. For each
size, in one run, it loads realistic deliveries up to that size (built once by the engine,
``insert_many`` in batches, the product's indexes), then measures:

- the raw compare-and-set rate: ``update_one({_id, revision}, ...)`` on random deliveries,
  one at a time and eight at once, and ``find_one({_id})``;
- applied commands per second end to end, and the latency from the 202 to ``applied``:
  bench/commands.py's HTTP run (gateway, workflow, notifier and timers as real processes,
  parties acting on the emails) with 1 and with 2 workflow processes;
- listing one customer's (and one ISV's) deliveries, through the gateway and as the exact
  query;
- downloading a 1 MB attachment (through the gateway and straight from GridFS) with 1 GB of
  attachments stored, uploaded once by the gateway's own ``store_file``;
- the size of the SQLite files on disk, and how long loading took.

Before all that, the published (unpatched) FerretDB build, at 1,000 and 10,000 deliveries: the raw
compare-and-set and ``find_one`` rates, the customer list and a GridFS read with 50 MB
stored, each measurement capped in time. Prints the figures and the issue's three goal
ratios (PASS or MISS); writes everything to bench/results/storage-<time>.json (rewritten
after each size, so an interrupted run keeps what it measured). Service logs go to
bench/logs/storage-*/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pymongo
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from bench.commands import Run, run_path
from bench.harness import (
    LOGS,
    Isolated,
    PrivateFerretDB,
    ServiceProcess,
    StoredDeliveries,
    command_path_env,
    database_version,
    free_port,
    isolated,
    machine_cpu_seconds,
    private_ferretdb,
    rabbitmq_version,
    rounded,
    server_pids,
    token,
    wait_ready,
    write_results,
)
from services.gateway.attachments import store_file
from services.runtime.collections import DELIVERIES, DELIVERY_DAYS, ensure_indexes
from services.runtime.delivery_days import listed_days, without_day_fields
from shared.config import Settings
from shared.domain.roles import Actor, Role
from tooling.ferretdb import (
    FERRETDB_PATCHES,
    ferretdb_binary,
    ferretdb_build_id,
)
from tooling.provision import ensure_rabbitmq

SIZES = (1_000, 100_000, 1_000_000)
ADMIN = Actor(id="admin-bench", role=Role.ADMIN)
BEFORE_SIZES = (1_000, 10_000)
#: Documents per insert_many, and insert_many calls in flight: 1,000 x 2 loaded about 2,800
#: deliveries a second up to 100,000 and 1,700 on the way to 1,000,000 (FerretDB's conversion
#: to SQLite's JSON and seven indexes are the limit; batches of 5,000 were no faster).
INSERT_BATCH = 1_000
INSERT_PARALLEL = 2
#: Seconds each raw rate is measured for.
RAW_SECONDS = 5.0
RAW_CONCURRENCY = 8
#: Timed repetitions of each list and download, of which the median is reported.
REPEATS = 15
#: The gateway's default page of a list.
LIST_LIMIT = 50
#: Deliveries driven per command-path run, and how many at a time.
RUN_DELIVERIES = 250
RUN_CONCURRENCY = 50
WORKFLOWS = (1, 2)
WARM_UP_DELIVERIES = 10
ATTACHMENT_BYTES = 1 << 20
ATTACHMENTS_TOTAL_BYTES = 1 << 30
BEFORE_ATTACHMENTS_TOTAL_BYTES = 50 << 20
#: Seconds any one measurement of the published build may take: its operations scan.
BEFORE_CAP_SECONDS = 60.0
#: Operations a capped rate measurement wants at least, if the cap allows.
BEFORE_MIN_OPERATIONS = 3
#: Seconds between progress lines while loading.
PROGRESS_SECONDS = 10.0


def log(message: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S} {message}", flush=True)


# --- loading -----------------------------------------------------------------------------------


async def load(
    db: Any, stored: StoredDeliveries, start: int, stop: int, what: str
) -> dict[str, float]:
    """Insert deliveries ``start``..``stop - 1``; seconds taken and deliveries per second."""
    batches = iter(range(start, stop, INSERT_BATCH))
    days_recorded: set[str] = set()
    done = done_at_report = 0
    began = last_report = time.monotonic()

    async def inserter() -> None:
        nonlocal done, done_at_report, last_report
        for first in batches:
            last = min(stop, first + INSERT_BATCH)
            documents = [stored.document(k) for k in range(first, last)]
            await db[DELIVERIES].insert_many(documents, ordered=False)
            # As the workflow's store does: each day a delivery names has its record, which
            # the newest-first listings walk.
            for day in set().union(*map(listed_days, documents)) - days_recorded:
                days_recorded.add(day)
                with contextlib.suppress(DuplicateKeyError):
                    await db[DELIVERY_DAYS].insert_one({"_id": day})
            done += last - first
            now = time.monotonic()
            if now - last_report >= PROGRESS_SECONDS:
                # The ETA follows the latest rate: inserts slow down as the indexes grow.
                rate = (done - done_at_report) / (now - last_report)
                last_report, done_at_report = now, done
                eta = (stop - start - done) / rate
                log(
                    f"  {what}: {start + done:,} of {stop:,} stored, now {rate:,.0f}/s "
                    f"({done / (now - began):,.0f}/s on average), ETA {eta:,.0f} s"
                )

    await asyncio.gather(*(inserter() for _ in range(INSERT_PARALLEL)))
    seconds = time.monotonic() - began
    rate = (stop - start) / seconds if stop > start else 0.0
    log(f"  {what}: {stop:,} stored; {stop - start:,} loaded in {seconds:,.1f} s ({rate:,.0f}/s)")
    return {"seconds": round(seconds, 1), "per_s": round(rate, 1)}


# --- raw rates ---------------------------------------------------------------------------------


@dataclass
class Rate:
    """Operations that completed in a timed window, and those that failed or timed out."""

    per_s: float
    done: int
    seconds: float
    failed: int = 0
    #: Compare-and-sets that matched nothing (two picked the same delivery at once).
    conflicts: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "per_s": round(self.per_s, 2),
            "done": self.done,
            "seconds": round(self.seconds, 1),
            "failed": self.failed,
            "conflicts": self.conflicts,
        }


async def timed_rate(
    operation: Callable[[], Awaitable[bool]],
    concurrency: int,
    seconds: float,
    cap: float | None = None,
    least: int = 0,
) -> Rate:
    """Run ``operation`` (True: it did what it should) in ``concurrency`` loops for ``seconds``,
    or, with ``cap``, until ``least`` have completed but never past ``cap`` seconds: each call
    then runs under a client-side timeout, so an operation that scans cannot hang the run."""
    done = failed = conflicts = 0
    began = time.monotonic()
    until = began + seconds
    hard = began + cap if cap else None

    async def loop() -> None:
        nonlocal done, failed, conflicts
        while True:
            now = time.monotonic()
            if hard is not None and now >= hard:
                return
            if now >= until and (hard is None or done >= least):
                return
            try:
                if hard is None:
                    ok = await operation()
                else:
                    with pymongo.timeout(max(0.1, hard - now)):
                        ok = await operation()
            except PyMongoError:
                failed += 1
                continue
            if ok:
                done += 1
            else:
                conflicts += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    return Rate(done / elapsed, done, elapsed, failed, conflicts)


class Probes:
    """The raw operations on the stored deliveries: compare-and-set by ``{_id, revision}``
    (the workflow's write) and ``find_one({_id})`` (its read), on random deliveries."""

    def __init__(self, db: Any, stored: StoredDeliveries, count: int, revisions: dict[int, int]):
        self.deliveries = db[DELIVERIES]
        self.stored = stored
        self.count = count
        #: The revision each delivery touched in this database has now (kept across sizes);
        #: the others have their template's.
        self.revisions = revisions
        # Random deliveries: reading the first ones only would flatter a scan.
        self.pick = random.Random(7).randrange

    async def compare_and_set(self) -> bool:
        k = self.pick(self.count)
        revision = self.revisions.get(k) or self.stored.revision_of(k)
        # Taken before the await, so a second writer on the same delivery misses (a conflict).
        self.revisions[k] = revision + 1
        result = await self.deliveries.update_one(
            {"_id": self.stored.delivery_id(k), "revision": revision},
            {"$set": {"updated_at": datetime.now(UTC)}, "$inc": {"revision": 1}},
        )
        if result.matched_count == 0:
            self.revisions[k] = revision
            return False
        return True

    async def find_one(self) -> bool:
        return (
            await self.deliveries.find_one({"_id": self.stored.delivery_id(self.pick(self.count))})
            is not None
        )


async def build_stored(url: str, name: str) -> StoredDeliveries:
    """Delivery templates written by the product's store in database ``name`` at ``url``."""
    client = AsyncMongoClient(url, tz_aware=True)
    try:
        return await StoredDeliveries.build(client[name])
    finally:
        await client.close()


# --- lists and downloads -----------------------------------------------------------------------


def list_query(actor: Actor) -> dict[str, Any]:
    """The gateway's ``GET /v1/deliveries`` query for ``actor`` (services/gateway/deliveries.py):
    filter, projection, sort and default page."""
    field = "customer_id" if actor.role == Role.CUSTOMER else "isv_id"
    return {
        "filter": {field: actor.id},
        "projection": without_day_fields({"history": 0, "refusals": 0, "outbox": 0, "stages": 0}),
        "sort": [("opened_at", -1)],
        "limit": LIST_LIMIT,
    }


async def median_seconds(
    action: Callable[[], Awaitable[Any]], repeats: int = REPEATS, cap: float | None = None
) -> dict[str, Any]:
    """Median and worst seconds of ``repeats`` runs of ``action`` (the first, which warms the
    caches, not counted); with ``cap``, stops repeating once that many seconds have gone and
    gives each run only the time left."""
    times: list[float] = []
    failed = 0
    began = time.monotonic()
    for attempt in range(repeats + 1):
        left = None if cap is None else cap - (time.monotonic() - began)
        if left is not None and left <= 0:
            break
        started = time.monotonic()
        try:
            if left is None:
                await action()
            else:
                with pymongo.timeout(left):
                    await action()
        except (PyMongoError, TimeoutError):
            failed += 1
            continue
        if attempt or repeats == 1:
            times.append(time.monotonic() - started)
    return {
        "median_ms": rounded(statistics.median(times) * 1000, 2) if times else None,
        "max_ms": rounded(max(times) * 1000, 2) if times else None,
        "runs": len(times),
        "failed": failed,
    }


async def exact_list(db: Any, actor: Actor) -> int:
    query = list_query(actor)
    found = await db[DELIVERIES].find(**query).to_list()
    return len(found)


@dataclass
class Attachment:
    attachment_id: str
    delivery: int


async def upload_attachments(
    db: Any, stored: StoredDeliveries, deliveries: int, total_bytes: int
) -> tuple[list[Attachment], dict[str, Any]]:
    """``total_bytes`` of 1 MB attachments, each on a random stored delivery, kept by the
    gateway's own ``store_file`` (GridFS and the attachment record)."""
    pick = random.Random(11).randrange
    count = max(1, total_bytes // ATTACHMENT_BYTES)
    attachments: list[Attachment] = []
    began = last_report = time.monotonic()
    for n in range(count):
        k = pick(deliveries)
        # Different bytes in every file, as real uploads have; a PDF header so it is sniffed
        # as one.
        data = b"%PDF-1.7\n" + os.urandom(ATTACHMENT_BYTES - 9)
        record = await store_file(
            db,
            stored.delivery_id(k),
            f"spec-{n}.pdf",
            data,
            Actor(id=stored.customer_of(k), role=Role.CUSTOMER),
        )
        attachments.append(Attachment(record["_id"], k))
        now = time.monotonic()
        if now - last_report >= PROGRESS_SECONDS:
            last_report = now
            rate = (n + 1) / (now - began)
            eta = (count - n - 1) / rate
            log(f"  attachments: {n + 1} of {count} MB, {rate:.1f} MB/s, ETA {eta:.0f} s")
    seconds = time.monotonic() - began
    log(f"  attachments: {count} MB uploaded in {seconds:.1f} s")
    return attachments, {
        "files": count,
        "file_bytes": ATTACHMENT_BYTES,
        "upload_seconds": round(seconds, 1),
        "upload_mb_per_s": round(count / seconds, 2),
    }


async def gridfs_read(db: Any, attachment: Attachment) -> int:
    """The whole file, read as the gateway's download streams it."""
    stream = await AsyncGridFSBucket(db).open_download_stream(attachment.attachment_id)
    size = 0
    while chunk := await stream.readchunk():
        size += len(chunk)
    assert size == ATTACHMENT_BYTES, size
    return size


# --- through the gateway -----------------------------------------------------------------------


class Gateway:
    """The gateway alone, as a real process on the benchmark's database, for reads over HTTP."""

    def __init__(self, iso: Isolated, label: str):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = command_path_env(iso, self.port, smtp_port=1)
        self.process = ServiceProcess("gateway", env, LOGS / f"storage-{label}" / "gateway.log")

    def __enter__(self) -> Gateway:
        self.process.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process.start()
        try:
            wait_ready([self.process], "", {}, self.base_url)
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    async def get(self, session: aiohttp.ClientSession, path: str, actor: Actor) -> bytes:
        headers = {"Authorization": f"Bearer {token(actor.id, actor.role.value)}"}
        async with session.get(self.base_url + path, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            return body


async def gateway_reads(
    gateway: Gateway,
    customer: Actor,
    isv: Actor,
    attachments: list[Attachment],
    stored: StoredDeliveries,
) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        figures = {
            "list_customer_http": await median_seconds(
                lambda: gateway.get(session, "/v1/deliveries", customer)
            ),
            "list_isv_http": await median_seconds(
                lambda: gateway.get(session, "/v1/deliveries", isv)
            ),
            # An operator's list of every delivery, newest first (the first page).
            "list_all_http": await median_seconds(
                lambda: gateway.get(session, "/v1/deliveries", ADMIN)
            ),
        }
        if attachments:
            pick = random.Random(13).choice

            async def download() -> None:
                attachment = pick(attachments)
                owner = Actor(id=stored.customer_of(attachment.delivery), role=Role.CUSTOMER)
                body = await gateway.get(
                    session, f"/v1/attachments/{attachment.attachment_id}", owner
                )
                assert len(body) == ATTACHMENT_BYTES, len(body)

            figures["download_1mb_http"] = await median_seconds(download)
    return figures


# --- one size ----------------------------------------------------------------------------------


def listed_parties(stored: StoredDeliveries, size: int) -> tuple[Actor, Actor]:
    """The customer and the ISV whose lists are timed: those of the delivery in the middle."""
    middle = size // 2
    return (
        Actor(id=stored.customer_of(middle), role=Role.CUSTOMER),
        Actor(id=stored.isv_of(middle), role=Role.ISV),
    )


async def measure_database(
    server: PrivateFerretDB,
    name: str,
    stored: StoredDeliveries,
    size: int,
    attachments: list[Attachment],
    revisions: dict[int, int],
) -> dict[str, Any]:
    """The raw rates, the exact list queries and a direct GridFS read, on ``size`` deliveries."""
    client = AsyncMongoClient(server.url, tz_aware=True)
    try:
        db = client[name]
        probes = Probes(db, stored, size, revisions)
        customer, isv = listed_parties(stored, size)
        figures: dict[str, Any] = {
            "compare_and_set_1": (
                await timed_rate(probes.compare_and_set, 1, RAW_SECONDS)
            ).figures(),
            f"compare_and_set_{RAW_CONCURRENCY}": (
                await timed_rate(probes.compare_and_set, RAW_CONCURRENCY, RAW_SECONDS)
            ).figures(),
            "find_one_by_id_1": (await timed_rate(probes.find_one, 1, RAW_SECONDS)).figures(),
            f"find_one_by_id_{RAW_CONCURRENCY}": (
                await timed_rate(probes.find_one, RAW_CONCURRENCY, RAW_SECONDS)
            ).figures(),
            "list_customer_query": await median_seconds(lambda: exact_list(db, customer)),
            "list_customer_found": await exact_list(db, customer),
            "list_isv_query": await median_seconds(lambda: exact_list(db, isv)),
            "list_isv_found": await exact_list(db, isv),
        }
        if attachments:
            pick = random.Random(17).choice
            figures["download_1mb_gridfs"] = await median_seconds(
                lambda: gridfs_read(db, pick(attachments))
            )
        return figures
    finally:
        await client.close()


def measure_size(
    settings: Settings,
    server: PrivateFerretDB,
    iso: Isolated,
    stored: StoredDeliveries,
    size: int,
    attachments: list[Attachment],
    revisions: dict[int, int],
    args: argparse.Namespace,
    warm_up: bool,
) -> dict[str, Any]:
    label = f"{size}"
    log(f"[{size:,}] raw rates, lists and a GridFS read")
    figures = asyncio.run(measure_database(server, iso.name, stored, size, attachments, revisions))
    customer, isv = listed_parties(stored, size)
    log(f"[{size:,}] lists and a download through the gateway")
    with Gateway(iso, label) as gateway:
        figures.update(asyncio.run(gateway_reads(gateway, customer, isv, attachments, stored)))
    servers = {"ferretdb": server.pid}
    rabbitmq = server_pids(settings).get("rabbitmq")
    if rabbitmq:
        servers["rabbitmq"] = rabbitmq
    if warm_up:
        # The services' first start in a database does one-off work (collections, indexes,
        # the outbox-flag migration) that would land in the first measured run only.
        log(f"[{size:,}] warm-up: {WARM_UP_DELIVERIES} deliveries, not counted")
        run_path(
            settings,
            Run("http", 1, WARM_UP_DELIVERIES, WARM_UP_DELIVERIES, "warm-up"),
            probe=False,
            on=iso,
            servers=servers,
            logs="storage",
        )
    figures["command_path"] = {}
    for workflows in args.workflows:
        run = Run("http", workflows, args.deliveries, args.concurrency, f"{label}-{workflows}w")
        busy_before, all_before = machine_cpu_seconds()
        driver_before, began = sum(os.times()[:2]), time.monotonic()
        result = run_path(settings, run, probe=True, on=iso, servers=servers, logs="storage")
        busy_after, all_after = machine_cpu_seconds()
        wall = time.monotonic() - began
        # The machine is shared: how busy all of it was, and how much of that was this
        # process (the HTTP clients and the SMTP sink), over the run including its start.
        cores = os.cpu_count() or 1
        result["machine_busy_cores"] = round(
            (busy_after - busy_before) / (all_after - all_before) * cores, 2
        )
        result["driver_cpu_share_of_one_core"] = round(
            (sum(os.times()[:2]) - driver_before) / wall, 2
        )
        figures["command_path"][f"{workflows}w"] = result
    return figures


# --- before: the published build ---------------------------------------------------------------


async def measure_before(
    server: PrivateFerretDB, name: str, stored: StoredDeliveries, sizes: list[int], cap: float
) -> list[dict[str, Any]]:
    """On the published build: at each size, the raw rates, the customer list and a GridFS read
    of 1 MB with ``BEFORE_ATTACHMENTS_TOTAL_BYTES`` stored, each capped at ``cap`` seconds."""
    client = AsyncMongoClient(server.url, tz_aware=True)
    results = []
    try:
        db = client[name]
        await ensure_indexes(db)
        loaded = 0
        attachments: list[Attachment] = []
        revisions: dict[int, int] = {}
        for size in sizes:
            figures: dict[str, Any] = {"deliveries": size}
            figures["load"] = await load(db, stored, loaded, size, f"published build, {size:,}")
            loaded = size
            if not attachments:
                attachments, figures["attachments"] = await upload_attachments(
                    db, stored, size, BEFORE_ATTACHMENTS_TOTAL_BYTES
                )
            figures["attachments_stored_mb"] = len(attachments) * ATTACHMENT_BYTES >> 20
            probes = Probes(db, stored, size, revisions)
            customer, _ = listed_parties(stored, size)
            pick = random.Random(17).choice
            log(f"[published, {size:,}] CAS, find_one, list, GridFS, {cap:.0f} s at most")
            figures["compare_and_set_1"] = (
                await timed_rate(probes.compare_and_set, 1, RAW_SECONDS, cap, BEFORE_MIN_OPERATIONS)
            ).figures()
            figures["find_one_by_id_1"] = (
                await timed_rate(probes.find_one, 1, RAW_SECONDS, cap, BEFORE_MIN_OPERATIONS)
            ).figures()
            figures["list_customer_query"] = await median_seconds(
                lambda customer=customer: exact_list(db, customer), repeats=5, cap=cap
            )
            figures["download_1mb_gridfs"] = await median_seconds(
                lambda pick=pick, stored_files=attachments: gridfs_read(db, pick(stored_files)),
                repeats=5,
                cap=cap,
            )
            figures["database_bytes"] = server.file_bytes()
            log(
                f"[published, {size:,}] compare-and-set {figures['compare_and_set_1']['per_s']}/s, "
                f"find_one {figures['find_one_by_id_1']['per_s']}/s, list "
                f"{figures['list_customer_query']['median_ms']} ms, GridFS 1 MB "
                f"{figures['download_1mb_gridfs']['median_ms']} ms"
            )
            results.append(figures)
    finally:
        await client.close()
    return results


# --- ratios and report -------------------------------------------------------------------------


def best_raw_cas(size_figures: dict[str, Any]) -> float:
    return max(
        size_figures["compare_and_set_1"]["per_s"],
        size_figures[f"compare_and_set_{RAW_CONCURRENCY}"]["per_s"],
    )


def applied_rate(size_figures: dict[str, Any], workflows: int) -> float | None:
    run = size_figures["command_path"].get(f"{workflows}w")
    return run["applied_per_s"] if run else None


def goal_ratios(sizes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's three goals from this run's figures; each PASS or MISS, with its figures."""
    goals = []
    smallest, largest = sizes[0], sizes[-1]
    low, high = applied_rate(smallest, 1), applied_rate(largest, 1)
    if low and high is not None and largest is not smallest:
        ratio = high / low
        goals.append(
            {
                "goal": f"applied/s at {largest['deliveries']:,} stored >= 0.8x at "
                f"{smallest['deliveries']:,} (1 workflow process)",
                "ratio": round(ratio, 2),
                "target": 0.8,
                "figures": f"{high} /s vs {low} /s",
                "verdict": "PASS" if ratio >= 0.8 else "MISS",
            }
        )
    for size in sizes:
        rates = [r for w in (1, 2) if (r := applied_rate(size, w)) is not None]
        raw = best_raw_cas(size)
        if rates and raw:
            ratio = max(rates) / raw
            goals.append(
                {
                    "goal": f"applied/s >= 0.5x raw compare-and-set/s, at {size['deliveries']:,}",
                    "ratio": round(ratio, 2),
                    "target": 0.5,
                    "figures": f"{max(rates)} /s (best of 1 and 2 workflows) vs {raw} /s "
                    f"(best of 1 and {RAW_CONCURRENCY} at once)",
                    "verdict": "PASS" if ratio >= 0.5 else "MISS",
                }
            )
    for size in sizes:
        one, two = applied_rate(size, 1), applied_rate(size, 2)
        if one and two is not None:
            ratio = two / one
            goals.append(
                {
                    "goal": f"applied/s with 2 workflow processes >= 1.3x with 1, at "
                    f"{size['deliveries']:,}",
                    "ratio": round(ratio, 2),
                    "target": 1.3,
                    "figures": f"{two} /s vs {one} /s",
                    "verdict": "PASS" if ratio >= 1.3 else "MISS",
                }
            )
    return goals


def table(figures: dict[str, Any]) -> list[tuple[str, ...]]:
    """The README's table: one row per figure, one column per size."""
    sizes = figures["sizes"]

    def row(label: str, value: Callable[[dict[str, Any]], Any]) -> tuple[str, ...]:
        cells = []
        for size in sizes:
            try:
                cell = value(size)
            except (KeyError, TypeError):
                cell = None
            cells.append("–" if cell is None else str(cell))
        return (label, *cells)

    def run(size: dict[str, Any], w: int) -> dict[str, Any]:
        return size["command_path"][f"{w}w"]

    return [
        ("stored deliveries", *(f"{s['deliveries']:,}" for s in sizes)),
        row(
            "load time, s (deliveries/s)",
            lambda s: f"{s['load']['seconds']} ({s['load']['per_s']:,.0f})",
        ),
        row(
            "database files, MB (of which WAL)",
            lambda s: (
                f"{s['database_bytes']['total'] / 1e6:,.0f} "
                f"({s['database_bytes']['wal'] / 1e6:,.0f})"
            ),
        ),
        row("raw compare-and-set /s, 1 at a time", lambda s: s["compare_and_set_1"]["per_s"]),
        row(
            f"raw compare-and-set /s, {RAW_CONCURRENCY} at once",
            lambda s: s[f"compare_and_set_{RAW_CONCURRENCY}"]["per_s"],
        ),
        row(
            f"find_one by _id /s, {RAW_CONCURRENCY} at once",
            lambda s: s[f"find_one_by_id_{RAW_CONCURRENCY}"]["per_s"],
        ),
        row("applied commands /s, 1 workflow", lambda s: run(s, 1)["applied_per_s"]),
        row("applied commands /s, 2 workflows", lambda s: run(s, 2)["applied_per_s"]),
        row(
            "202 → applied p50 / p99 ms, 1 workflow",
            lambda s: (
                f"{run(s, 1)['latency_ms']['p50']:.0f} / {run(s, 1)['latency_ms']['p99']:.0f}"
            ),
        ),
        row(
            "202 → applied p50 / p99 ms, 2 workflows",
            lambda s: (
                f"{run(s, 2)['latency_ms']['p50']:.0f} / {run(s, 2)['latency_ms']['p99']:.0f}"
            ),
        ),
        row(
            "machine busy, cores of 2, 1 / 2 workflows",
            lambda s: f"{run(s, 1)['machine_busy_cores']} / {run(s, 2)['machine_busy_cores']}",
        ),
        row(
            "FerretDB CPU ms per applied command, 1 workflow",
            lambda s: run(s, 1)["cpu_ms_per_applied_command"]["ferretdb"],
        ),
        row(
            "commands waiting share, 1 / 2 workflows",
            lambda s: (
                f"{run(s, 1)['commands_queue_nonempty_share']} / "
                f"{run(s, 2)['commands_queue_nonempty_share']}"
            ),
        ),
        row("list one customer (10), HTTP ms", lambda s: s["list_customer_http"]["median_ms"]),
        row("list one customer, query ms", lambda s: s["list_customer_query"]["median_ms"]),
        row("list one ISV (first 50), HTTP ms", lambda s: s["list_isv_http"]["median_ms"]),
        row("list all, newest first (admin), HTTP ms", lambda s: s["list_all_http"]["median_ms"]),
        row("1 MB download, HTTP ms", lambda s: s["download_1mb_http"]["median_ms"]),
        row("1 MB download, GridFS ms", lambda s: s["download_1mb_gridfs"]["median_ms"]),
    ]


def before_table(figures: dict[str, Any]) -> list[tuple[str, ...]]:
    """Before and after from the same run: the published build at its sizes, then the
    project's build at its smallest and largest size, one operation at a time."""
    columns = [(f"published, {b['deliveries']:,}", b) for b in figures.get("before") or []]
    sizes = figures["sizes"]
    columns += [(f"patched, {s['deliveries']:,}", s) for s in sizes[:1] + sizes[1:][-1:]]

    def row(label: str, value: Callable[[dict[str, Any]], Any]) -> tuple[str, ...]:
        cells = []
        for _, column in columns:
            try:
                cells.append(str(value(column)))
            except (KeyError, TypeError):
                cells.append("–")
        return (label, *cells)

    return [
        ("stored deliveries", *(name for name, _ in columns)),
        row("compare-and-set /s, 1 at a time", lambda c: c["compare_and_set_1"]["per_s"]),
        row("find_one by _id /s, 1 at a time", lambda c: c["find_one_by_id_1"]["per_s"]),
        row("list one customer, query ms", lambda c: c["list_customer_query"]["median_ms"]),
        row(
            "1 MB GridFS read ms (MB stored)",
            lambda c: f"{c['download_1mb_gridfs']['median_ms']} ({c['attachments_stored_mb']:,})",
        ),
    ]


def print_table(rows: list[tuple[str, ...]]) -> None:
    if len(rows) < 2 or len(rows[0]) < 2:
        return
    width = max(len(r[0]) for r in rows)
    columns = [max(len(r[i]) for r in rows) for i in range(1, len(rows[0]))]
    for r in rows:
        cells = "  ".join(c.rjust(w) for c, w in zip(r[1:], columns, strict=True))
        print(f"  {r[0]:<{width}}  {cells}")


def markdown_table(rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|---" + "|---:" * (len(rows[0]) - 1) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def print_report(figures: dict[str, Any]) -> None:
    print("\n=== after: the project's FerretDB build", figures["database"])
    print_table(table(figures))
    if figures.get("before"):
        print("\n=== before: the published FerretDB build")
        print_table(before_table(figures))
    print("\n=== where a command's time goes (1 workflow, mean ms per command)")
    for size in figures["sizes"]:
        hops = size["command_path"].get("1w", {}).get("probed_hops_mean_ms") or {}
        shown = {k: v for k, v in hops.items() if isinstance(v, float)}
        print(f"  {size['deliveries']:>9,}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    print("\n=== goals")
    for goal in figures["goals"]:
        print(f"  {goal['verdict']:<4}  {goal['goal']}: {goal['ratio']}")
        print(f"        target {goal['target']}; {goal['figures']}")
    for note in figures["notes"]:
        print(f"  note: {note}")


# --- main --------------------------------------------------------------------------------------


def integers(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=integers, default=list(SIZES), help="stored deliveries, ascending"
    )
    parser.add_argument(
        "--before-sizes",
        type=integers,
        default=list(BEFORE_SIZES),
        help="stored deliveries on the published build ('' for none)",
    )
    parser.add_argument(
        "--deliveries", type=int, default=RUN_DELIVERIES, help="per command-path run"
    )
    parser.add_argument(
        "--concurrency", type=int, default=RUN_CONCURRENCY, help="deliveries at once"
    )
    parser.add_argument(
        "--workflows", type=integers, default=list(WORKFLOWS), help="workflow processes per run"
    )
    parser.add_argument(
        "--attachments-mb",
        type=int,
        default=ATTACHMENTS_TOTAL_BYTES >> 20,
        help="MB of 1 MB attachments stored before the downloads",
    )
    parser.add_argument(
        "--cap",
        type=float,
        default=BEFORE_CAP_SECONDS,
        help="seconds any one measurement of the published build may take",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1,000 and 5,000 deliveries, small runs, 16 MB of attachments",
    )
    parser.add_argument("--keep", action="store_true", help="keep the FerretDB data directories")
    args = parser.parse_args()
    # Stopped with SIGTERM (or SIGINT, which a background job ignores), unwind as on an error:
    # the FerretDB processes and their files, the vhost and the services are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        # Only what was not given explicitly: ``--quick --sizes 1000`` keeps its sizes.
        quick = {
            "sizes": [1_000, 5_000],
            "before_sizes": [1_000],
            "deliveries": 40,
            "concurrency": 20,
            "attachments_mb": 16,
            "cap": 20.0,
        }
        for name, value in quick.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    args.sizes = sorted(set(args.sizes))

    settings = Settings()
    # Only the broker: the shared FerretDB is neither used nor (re)started by this benchmark.
    ensure_rabbitmq(settings)
    patched = ferretdb_binary(settings.state_dir)
    published = ferretdb_binary(settings.state_dir, patches=())
    scratch = settings.state_dir / "bench"
    started = time.monotonic()
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "rabbitmq": rabbitmq_version(settings.amqp_url)["rabbitmq"],
        "ferretdb_build": ferretdb_build_id(),
        "patches": [p.name for p in FERRETDB_PATCHES],
        "settings": {
            "sizes": args.sizes,
            "before_sizes": args.before_sizes,
            "deliveries_per_run": args.deliveries,
            "concurrency": args.concurrency,
            "workflows": args.workflows,
            "attachments_mb": args.attachments_mb,
            "insert_batch": INSERT_BATCH,
            "insert_parallel": INSERT_PARALLEL,
            "raw_seconds": RAW_SECONDS,
            "before_cap_seconds": args.cap,
        },
        "sizes": [],
        "before": [],
        "goals": [],
        "notes": [],
    }
    out = write_results("storage", figures)
    log(
        f"results: {out}; FerretDB builds {patched.name} and {published.name}; data under {scratch}"
    )

    def save() -> None:
        figures["goals"] = goal_ratios(figures["sizes"]) if figures["sizes"] else []
        figures["seconds"] = round(time.monotonic() - started, 1)
        write_results("storage", figures, out)

    stored: StoredDeliveries | None = None
    # The published build first: it is the short part, and the one most likely to misbehave.
    if args.before_sizes:
        with private_ferretdb(published, scratch, args.keep) as server:
            name = f"dc_before_{uuid.uuid4().hex[:8]}"
            stored = asyncio.run(build_stored(server.url, name))
            figures["before"] = asyncio.run(
                measure_before(server, name, stored, args.before_sizes, args.cap)
            )
        save()

    with (
        private_ferretdb(patched, scratch, args.keep) as server,
        isolated(settings, "dc_storage", server.url) as iso,
    ):
        with MongoClient(server.url) as client:
            figures["database"] = database_version(client)
        if stored is None:
            stored = asyncio.run(build_stored(server.url, iso.name))
        loaded = 0
        attachments: list[Attachment] = []
        #: Revisions the raw compare-and-sets moved, in this database.
        revisions: dict[int, int] = {}

        async def prepare(size: int) -> dict[str, Any]:
            nonlocal attachments
            client = AsyncMongoClient(server.url, tz_aware=True)
            try:
                db = client[iso.name]
                # The product's indexes, as each service creates them at start.
                await ensure_indexes(db)
                result = {"load": await load(db, stored, loaded, size, "patched build")}
                if not attachments and args.attachments_mb:
                    attachments, result["attachments"] = await upload_attachments(
                        db, stored, size, args.attachments_mb << 20
                    )
                return result
            finally:
                await client.close()

        for size in args.sizes:
            size_figures: dict[str, Any] = {"deliveries": size}
            log(f"[{size:,}] loading deliveries {loaded:,}..{size:,}")
            size_figures.update(asyncio.run(prepare(size)))
            loaded = size
            size_figures["cumulative_load_seconds"] = round(
                sum(s["load"]["seconds"] for s in figures["sizes"])
                + size_figures["load"]["seconds"],
                1,
            )
            size_figures["database_bytes"] = server.file_bytes()
            size_figures["attachments_stored_mb"] = len(attachments) * ATTACHMENT_BYTES >> 20
            size_figures.update(
                measure_size(
                    settings,
                    server,
                    iso,
                    stored,
                    size,
                    attachments,
                    revisions,
                    args,
                    warm_up=not figures["sizes"],
                )
            )
            # After the command runs: what they added is in the files too.
            size_figures["database_bytes_after_runs"] = server.file_bytes()
            figures["sizes"].append(size_figures)
            save()
            log(f"[{size:,}] done; figures so far in {out}")

    save()
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_results("storage", figures, out)
    print_report(figures)
    print(f"\n  took {figures['seconds']} s; written to {out}")
    print("\n" + markdown_table(table(figures)))
    if figures["before"]:
        print("\n" + markdown_table(before_table(figures)))


if __name__ == "__main__":
    main()
