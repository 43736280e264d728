"""Benchmark the command path against the raw speed of the broker and database it runs on.

    python3 -m bench.commands [--deliveries 100] [--concurrency 50] [--workers 1,2,4]
                              [--bus-workers 1,2,4] [--unloaded 10] [--py-spy]

First measures, on a RabbitMQ virtual host and a database of its own, the raw limits: publish
with confirm and consume-and-ack of a message the size of our commands (pika, persistent,
durable queue), and find_one_and_update of a delivery-sized document in a collection as large
as each command-path run makes it. Then, for each number of workflow worker processes, starts
the four services as real processes on a fresh vhost and database and runs ``--deliveries``
deliveries of the basic process (open, submit_demand, finish, confirm), ``--concurrency`` at a
time, over HTTP; and again without HTTP, publishing the command envelopes straight onto
``dc.commands``. A party acts when the email asking it to arrives at an in-process SMTP sink,
so nothing polls the database; latencies come afterwards from the timestamps the services
store (``accepted_at``, the history entry's ``at``, ``decided_at``) and from timings the
gateway and workflow keep when run through bench/probe.py (``--no-probe`` runs them bare).

Prints a table (raw limits, applied commands per second, latency percentiles, where a
command's time goes, emails per second, peak RSS per service, scaling) and writes it to
bench/results/commands-<time>.json; service logs go to bench/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pika
from pymongo import AsyncMongoClient, MongoClient, ReturnDocument

from bench.harness import (
    BASIC_STEPS,
    LOGS,
    Isolated,
    PySpy,
    ServiceProcess,
    TimedMailSink,
    command_path_env,
    completed_delivery_document,
    cpu_seconds,
    database_version,
    encoded_command_message,
    free_port,
    isolated,
    open_command,
    percentile,
    rabbitmq_version,
    rounded,
    server_pids,
    submit_demand_envelope,
    token,
    wait_ready,
    write_results,
)
from services.runtime.bootstrap import amqp_parameters, make_broker
from services.runtime.bus import command_message
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE
from shared.domain.engine import delivery_id_for
from shared.domain.roles import Actor, Role
from tooling.provision import ensure_infrastructure

#: Emails per basic delivery: customer and ISV for each of its four transitions.
EMAILS_PER_DELIVERY = 8
#: Seconds each raw rate is measured for.
RAW_SECONDS = 2.0
#: In-flight operations when measuring raw rates concurrently (the workflow's worker threads).
RAW_CONCURRENCY = 8
#: dramatiq's prefetch for 8 worker threads.
CONSUME_PREFETCH = 16
RAW_QUEUE = "bench.raw"
#: Ids asked for in one ``$in`` when reading a run's records back.
ID_BATCH = 500
#: Seconds a party waits for the email asking it to act before giving the delivery up.
STEP_TIMEOUT = 120.0
#: Deliveries per run, and how many run at once: sized so that every run fits in ten minutes
#: on a two-core machine (FerretDB's SQLite backend scans the collection on every update).
DELIVERIES = 100
CONCURRENCY = 50


# --- raw limits --------------------------------------------------------------------------------


def _publisher(amqp_url: str, body: bytes, until: float, rates: list[float]) -> None:
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    sent, started = 0, time.monotonic()
    while time.monotonic() < until:
        channel.basic_publish("", RAW_QUEUE, body, properties)
        sent += 1
    rates.append(sent / (time.monotonic() - started))
    connection.close()


def publish_rate(amqp_url: str, body: bytes, connections: int) -> float:
    """Messages per second confirmed, each publisher waiting for each confirm (as dramatiq does),
    summed over ``connections`` publishers side by side."""
    rates: list[float] = []
    until = time.monotonic() + RAW_SECONDS
    threads = [
        threading.Thread(target=_publisher, args=(amqp_url, body, until, rates))
        for _ in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(rates)


def consume_rate(amqp_url: str) -> tuple[float, int]:
    """Messages per second consumed and acked one by one, with dramatiq's prefetch."""
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=CONSUME_PREFETCH)
    count, first, last = 0, 0.0, 0.0
    for method, _, _ in channel.consume(RAW_QUEUE, inactivity_timeout=1.0):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        last = time.monotonic()
        first = first or last
        count += 1
    connection.close()
    return (count - 1) / (last - first) if count > 1 else float("nan"), count


def raw_broker(amqp_url: str) -> dict[str, Any]:
    body = encoded_command_message(submit_demand_envelope())
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
    connection.channel().queue_declare(RAW_QUEUE, durable=True)
    connection.close()
    one = publish_rate(amqp_url, body, 1)
    many = publish_rate(amqp_url, body, 4)
    consumed, count = consume_rate(amqp_url)
    return {
        "message_bytes": len(body),
        "publish_confirm_per_s_1_connection": round(one, 1),
        "publish_confirm_per_s_4_connections": round(many, 1),
        "consume_ack_per_s": round(consumed, 1),
        "consume_prefetch": CONSUME_PREFETCH,
        "consumed_messages": count,
    }


async def _rate(operation: Any, concurrency: int) -> float:
    count = 0
    started = time.monotonic()
    until = started + RAW_SECONDS

    async def loop() -> None:
        nonlocal count
        while time.monotonic() < until:
            await operation(count)
            count += 1

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return count / (time.monotonic() - started)


async def raw_database(mongo_url: str, name: str, documents: int) -> dict[str, Any]:
    """find_one_and_update (and, for comparison, find_one and insert_one) rates on
    delivery-sized documents, in a collection holding ``documents`` of them."""
    template = completed_delivery_document()
    client = AsyncMongoClient(mongo_url, tz_aware=True)
    try:
        deliveries = client[name]["deliveries"]
        ids = [uuid.uuid4().hex for _ in range(documents)]
        for start in range(0, documents, 1000):
            await deliveries.insert_many(
                [{**template, "_id": i, "delivery_id": i} for i in ids[start : start + 1000]]
            )

        # Random documents: FerretDB 1.24 finds a document by reading the table up to it, so
        # always asking for the first ones would flatter it.
        pick = random.Random(7).choice

        async def update(n: int) -> None:
            await deliveries.find_one_and_update(
                {"_id": pick(ids)},
                {"$set": {"updated_at": datetime.now(UTC)}, "$inc": {"revision": 1}},
                return_document=ReturnDocument.AFTER,
            )

        async def find(n: int) -> None:
            await deliveries.find_one({"_id": pick(ids)})

        async def insert(n: int) -> None:
            await client[name]["inserts"].insert_one({"status": "applied", "n": n})

        document_bytes = len(json.dumps(template, default=str))
        figures = {
            "collection_documents": documents,
            "document_bytes_json": document_bytes,
            "find_one_and_update_per_s_1": round(await _rate(update, 1), 1),
            f"find_one_and_update_per_s_{RAW_CONCURRENCY}": round(
                await _rate(update, RAW_CONCURRENCY), 1
            ),
            f"find_one_by_id_per_s_{RAW_CONCURRENCY}": round(await _rate(find, RAW_CONCURRENCY), 1),
            f"insert_one_per_s_{RAW_CONCURRENCY}": round(await _rate(insert, RAW_CONCURRENCY), 1),
        }
        # The same update in a collection ten times as large: how the limit falls as it grows.
        more = [uuid.uuid4().hex for _ in range(9 * documents)]
        for start in range(0, len(more), 1000):
            await deliveries.insert_many(
                [{**template, "_id": i, "delivery_id": i} for i in more[start : start + 1000]]
            )
        ids.extend(more)
        figures[f"find_one_and_update_per_s_1_at_{10 * documents}_documents"] = round(
            await _rate(update, 1), 1
        )
        return figures
    finally:
        await client.close()


# --- driving deliveries ------------------------------------------------------------------------


@dataclass
class Sent:
    """One command as the bench sent it."""

    command_id: str
    delivery_id: str
    type: str
    #: Wall-clock seconds: request (or publish) started, 202 (or confirm) received.
    sent: float
    answered: float
    retries: int = 0


@dataclass
class Drive:
    sent: list[Sent] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


class MailWatch:
    """How many emails each address got, and waiting for the n-th (in the driver's loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: TimedMailSink):
        self.loop = loop
        self.counts: dict[str, int] = defaultdict(int)
        self.waiters: dict[str, list[tuple[int, asyncio.Future]]] = defaultdict(list)
        sink.on_arrival = lambda to: loop.call_soon_threadsafe(self._arrived, to)

    def _arrived(self, to: list[str]) -> None:
        for address in to:
            self.counts[address] += 1
            waiting = self.waiters[address]
            for entry in list(waiting):
                wanted, future = entry
                if self.counts[address] >= wanted:
                    waiting.remove(entry)
                    if not future.done():
                        future.set_result(None)

    async def wait(self, address: str, count: int, timeout: float) -> bool:
        if self.counts[address] >= count:
            return True
        future = self.loop.create_future()
        self.waiters[address].append((count, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False


def parties(run: str, index: int) -> dict[str, str]:
    return {
        "marketplace": f"shop-{run}-{index}",
        "customer": f"customer-{run}-{index}",
        "isv": f"isv-{run}-{index}",
    }


async def drive_http(
    base_url: str, sink: TimedMailSink, deliveries: int, concurrency: int
) -> Drive:
    """Run ``deliveries`` basic deliveries over HTTP, ``concurrency`` at a time; each party sends
    its command once the email for the previous transition has reached the customer."""
    drive = Drive()
    run = uuid.uuid4().hex[:6]
    watch = MailWatch(asyncio.get_running_loop(), sink)
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(path: str, who: str, role: str, body: dict, key: str) -> tuple[dict, Sent]:
            headers = {"Authorization": f"Bearer {token(who, role)}", "Idempotency-Key": key}
            sent, retries = time.time(), 0
            while True:
                async with session.post(base_url + path, json=body, headers=headers) as response:
                    answer = await response.json()
                    if response.status == 202:
                        kind = body.get("type", "")
                        answered = time.time()
                        return answer, Sent(answer["command_id"], "", kind, sent, answered, retries)
                    if response.status not in (429, 503) or retries > 50:
                        raise RuntimeError(f"{path}: {response.status} {answer}")
                retries += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "0.5")))

        async def one(index: int) -> None:
            who = parties(run, index)
            customer_email = f"{who['customer']}@customer.example.com"
            opening = open_command(f"order-{run}-{index}", who["customer"], who["isv"])
            body = opening.model_dump(mode="json", exclude_none=True)
            async with gate:
                answer, sent = await post(
                    "/v1/deliveries", who["marketplace"], "marketplace", body, uuid.uuid4().hex
                )
                delivery_id = answer["delivery_id"]
                sent.delivery_id, sent.type = delivery_id, "open_delivery"
                drive.sent.append(sent)
                if not await watch.wait(customer_email, 1, STEP_TIMEOUT):
                    drive.failures.append(f"{delivery_id}: no email after open_delivery")
                    return
                for step, (role, command) in enumerate(BASIC_STEPS, start=2):
                    body = command.model_dump(mode="json", exclude_none=True)
                    _, sent = await post(
                        f"/v1/deliveries/{delivery_id}/commands",
                        who[role.value],
                        role.value,
                        body,
                        uuid.uuid4().hex,
                    )
                    sent.delivery_id = delivery_id
                    drive.sent.append(sent)
                    if not await watch.wait(customer_email, step, STEP_TIMEOUT):
                        drive.failures.append(f"{delivery_id}: no email after {command.type}")
                        return

        drive.started = time.time()
        try:
            await asyncio.gather(*(one(i) for i in range(deliveries)))
        finally:
            sink.on_arrival = None
        drive.finished = time.time()
    return drive


async def drive_bus(amqp_url: str, sink: TimedMailSink, deliveries: int, concurrency: int) -> Drive:
    """The same deliveries, published as command envelopes straight onto ``dc.commands``."""
    drive = Drive()
    run = uuid.uuid4().hex[:6]
    watch = MailWatch(asyncio.get_running_loop(), sink)
    gate = asyncio.Semaphore(concurrency)
    broker = make_broker(Settings(amqp_url=amqp_url))

    async def publish(envelope: CommandEnvelope, sent: float) -> None:
        # dramatiq's publish blocks until the broker confirms; the gateway also runs it in a thread.
        await asyncio.to_thread(broker.enqueue, command_message(envelope))
        drive.sent.append(
            Sent(
                envelope.command_id, envelope.delivery_id, envelope.command.type, sent, time.time()
            )
        )

    async def one(index: int) -> None:
        who = parties(run, index)
        customer_email = f"{who['customer']}@customer.example.com"
        opening = open_command(f"order-{run}-{index}", who["customer"], who["isv"])
        delivery_id = delivery_id_for(opening.order_id)
        async with gate:
            sent = time.time()
            await publish(
                CommandEnvelope(
                    command_id=f"open:{delivery_id}",
                    delivery_id=delivery_id,
                    actor=Actor(id=who["marketplace"], role=Role.MARKETPLACE),
                    issued_at=datetime.fromtimestamp(sent, UTC),
                    command=opening,
                ),
                sent,
            )
            if not await watch.wait(customer_email, 1, STEP_TIMEOUT):
                drive.failures.append(f"{delivery_id}: no email after open_delivery")
                return
            for step, (role, command) in enumerate(BASIC_STEPS, start=2):
                sent = time.time()
                await publish(
                    CommandEnvelope(
                        command_id=uuid.uuid4().hex,
                        delivery_id=delivery_id,
                        actor=Actor(id=who[role.value], role=role),
                        issued_at=datetime.fromtimestamp(sent, UTC),
                        command=command,
                    ),
                    sent,
                )
                if not await watch.wait(customer_email, step, STEP_TIMEOUT):
                    drive.failures.append(f"{delivery_id}: no email after {command.type}")
                    return

    try:
        drive.started = time.time()
        await asyncio.gather(*(one(i) for i in range(deliveries)))
        drive.finished = time.time()
    finally:
        sink.on_arrival = None
        broker.close()
    return drive


# --- one run: the services up, deliveries driven, figures read back ----------------------------


class Sampler(threading.Thread):
    """Every half second: each service's peak RSS and CPU time, and how many commands wait
    in the queue."""

    def __init__(self, services: list[ServiceProcess], amqp_url: str):
        super().__init__(daemon=True)
        self.services = services
        self.amqp_url = amqp_url
        self.depths: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        connection = pika.BlockingConnection(amqp_parameters(self.amqp_url))
        channel = connection.channel()
        while not self.stop.wait(0.5):
            for service in self.services:
                service.sample()
            with contextlib.suppress(Exception):
                depth = channel.queue_declare(COMMANDS_QUEUE, passive=True).method.message_count
                self.depths.append(depth)
        with contextlib.suppress(Exception):
            connection.close()


@dataclass
class Run:
    mode: str  # "http" or "bus"
    workers: int
    deliveries: int
    concurrency: int
    label: str
    #: Record py-spy profiles of the gateway, the (first) workflow and the notifier.
    profile: bool = False


def cpu_now(services: list[ServiceProcess], servers: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each service (summed over its processes) and server."""
    used: dict[str, float] = defaultdict(float)
    for service in services:
        service.sample()
        used[service.name.split("#")[0]] += service.cpu_seconds
    for name, pid in servers.items():
        used[name] = cpu_seconds(pid) or 0.0
    return used


def run_path(
    settings: Settings,
    run: Run,
    probe: bool,
    on: Isolated | None = None,
    servers: dict[str, int] | None = None,
    logs: str = "commands",
) -> dict:
    """Start the services, drive the deliveries over ``run.mode``, read the figures back.

    On a fresh vhost and database, or ``on`` an existing one (whose other documents stay);
    ``servers`` names the FerretDB and RabbitMQ pids whose CPU time is counted (by default the
    configured ones); service logs go to bench/logs/<logs>-<label>/.
    """
    log_dir = LOGS / f"{logs}-{run.label}"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*"):
        old.unlink()
    print(
        f"\n[{run.label}] {run.mode}, {run.workers} workflow process(es): "
        f"{run.deliveries} deliveries, {run.concurrency} at a time",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        iso = on or stack.enter_context(isolated(settings))
        sink = stack.enter_context(TimedMailSink())
        port = free_port()
        env = command_path_env(iso, port, sink.port)

        def service(name: str, probed: bool) -> ServiceProcess:
            probe_file = log_dir / f"probe-{name}.json" if probed and probe else None
            return ServiceProcess(name, env, log_dir / f"{name}.log", probe_file)

        services = [service(f"workflow#{i}", True) for i in range(run.workers)]
        services += [service("timers", False), service("notifier", False)]
        if run.mode == "http":
            services.insert(0, service("gateway", True))
        servers = server_pids(settings) if servers is None else servers
        sampler = Sampler(services, iso.amqp_url)
        profiles: dict[str, PySpy] = {}
        try:
            for s in services:
                s.start()
            wait_ready(
                services,
                iso.amqp_url,
                {COMMANDS_QUEUE: run.workers, NOTIFICATIONS_QUEUE: 1},
                f"http://127.0.0.1:{port}" if run.mode == "http" else None,
            )
            sampler.start()
            if run.profile:
                for s in services:
                    if s.name in ("gateway", "workflow#0", "notifier"):
                        name = s.name.split("#")[0]
                        profiles[name] = PySpy(s.pid, log_dir / f"py-spy-{name}.txt")
            cpu_before, window_started = cpu_now(services, servers), time.monotonic()
            if run.mode == "http":
                coroutine = drive_http(
                    f"http://127.0.0.1:{port}", sink, run.deliveries, run.concurrency
                )
            else:
                coroutine = drive_bus(iso.amqp_url, sink, run.deliveries, run.concurrency)
            drive = asyncio.run(coroutine)
            for profile in profiles.values():
                profile.stop()
            expected = EMAILS_PER_DELIVERY * run.deliveries
            give_up = time.monotonic() + 60
            while sink.count() < expected and time.monotonic() < give_up:
                time.sleep(0.2)
            window = time.monotonic() - window_started
            cpu_after = cpu_now(services, servers)
        finally:
            sampler.stop.set()
            for profile in profiles.values():
                profile.stop()
            for s in services:
                s.stop()
        figures = analyse(run, iso, drive, sink, services, sampler.depths, log_dir)
        used = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        figures["cpu_share_of_one_core"] = {name: round(u / window, 2) for name, u in used.items()}
        figures["cpu_ms_per_applied_command"] = {
            name: round(u * 1000 / max(figures["applied"], 1), 1) for name, u in used.items()
        }
        figures["profiles"] = {name: p.summary() for name, p in profiles.items()}
        print(
            f"[{run.label}] {figures['applied']} applied in {figures['drive_seconds']} s: "
            f"{figures['applied_per_s']}/s, latency p50 {figures['latency_ms']['p50']} ms",
            flush=True,
        )
        return figures


def _stored(iso: Isolated, drive: Drive) -> tuple[dict, dict, dict]:
    """(accepted_at by command, outcome by command, history ``at`` by command) of the commands
    ``drive`` sent, read once from the run's database after the services stopped; by ``_id``,
    so the documents of other runs (or a million stored ones) are not read."""
    command_ids = sorted({s.command_id for s in drive.sent})
    delivery_ids = sorted({s.delivery_id for s in drive.sent})
    accepted: dict[str, float] = {}
    outcomes: dict[str, dict] = {}
    history: dict[str, float] = {}
    with MongoClient(iso.mongo_url, tz_aware=True) as client:
        db = client[iso.name]
        for start in range(0, len(command_ids), ID_BATCH):
            ids = {"_id": {"$in": command_ids[start : start + ID_BATCH]}}
            accepted.update((d["_id"], d["accepted_at"].timestamp()) for d in db.commands.find(ids))
            outcomes.update((d["_id"], d) for d in db.command_outcomes.find(ids))
        for start in range(0, len(delivery_ids), ID_BATCH):
            ids = {"_id": {"$in": delivery_ids[start : start + ID_BATCH]}}
            for d in db.deliveries.find(ids, {"history": 1}):
                for entry in d.get("history", []):
                    history[entry["command_id"]] = entry["at"].timestamp()
    return accepted, outcomes, history


@dataclass
class Probed:
    """What bench/probe.py recorded in the gateway and the workflow processes."""

    gateway_totals: dict[str, list[float]] = field(default_factory=dict)
    #: command id -> [publish began (wall clock), seconds until confirmed], in the gateway
    gateway_publishes: dict[str, list[float]] = field(default_factory=dict)
    #: command id -> {"start": wall clock, "ops": {label: seconds}}, in the workflow
    workflow: dict[str, dict[str, Any]] = field(default_factory=dict)


def _probes(log_dir: Path) -> Probed:
    probed = Probed()
    for path in log_dir.glob("probe-*.json"):
        data = json.loads(path.read_text())
        if data["service"] == "gateway":
            probed.gateway_totals = data["totals"]
            probed.gateway_publishes = data["publishes"]
        else:
            probed.workflow.update(data["commands"])
    return probed


def _ms(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and mean of ``values`` (seconds), in milliseconds."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None}
    ms = [v * 1000 for v in values]
    return {
        "p50": rounded(percentile(ms, 0.50)),
        "p95": rounded(percentile(ms, 0.95)),
        "p99": rounded(percentile(ms, 0.99)),
        "mean": rounded(statistics.fmean(ms)),
    }


def _mean_ms(values: list[float]) -> float | None:
    return round(statistics.fmean(values) * 1000, 2) if values else None


def analyse(
    run: Run,
    iso: Isolated,
    drive: Drive,
    sink: TimedMailSink,
    services: list[ServiceProcess],
    depths: list[int],
    log_dir: Path,
) -> dict[str, Any]:
    accepted, outcomes, history = _stored(iso, drive)
    probed = _probes(log_dir)
    applied = [s for s in drive.sent if outcomes.get(s.command_id, {}).get("status") == "applied"]
    decided = {s.command_id: outcomes[s.command_id]["decided_at"].timestamp() for s in applied}

    # Rate over the middle 80 % of decisions, which leaves out the start and the tail.
    times = sorted(decided.values())
    low, high = percentile(times, 0.1), percentile(times, 0.9)
    middle = sum(1 for t in times if low <= t <= high) if times else 0
    steady = (middle - 1) / (high - low) if times and high > low else float("nan")
    span = (times[-1] - drive.started) if times else float("nan")

    answered_to_applied = [decided[s.command_id] - s.answered for s in applied]
    sent_to_applied = [decided[s.command_id] - s.sent for s in applied]

    # Consecutive hops from the timestamps the services store (no probe needed): for HTTP,
    # request -> accepted_at -> history entry's ``at`` -> decided_at; on the bus, the
    # envelope's issued_at (the publish) -> ``at`` -> decided_at.
    stored_hops: dict[str, list[float]] = defaultdict(list)
    for s in applied:
        at = history.get(s.command_id)
        if at is None:
            continue
        if run.mode == "http":
            if s.command_id not in accepted:
                continue
            stored_hops["request_to_accepted_at"].append(accepted[s.command_id] - s.sent)
            stored_hops["accepted_at_to_history_at"].append(at - accepted[s.command_id])
        else:
            stored_hops["issued_at_to_history_at"].append(at - s.sent)
        stored_hops["history_at_to_decided_at"].append(decided[s.command_id] - at)

    hops = _probed_hops(run.mode, applied, probed)

    emails = sorted(sink.arrivals)
    email_rate = (len(emails) - 1) / (emails[-1] - emails[0]) if len(emails) > 1 else float("nan")
    memory: dict[str, float] = {}
    for s in services:
        name = s.name.split("#")[0]
        memory[name] = round(max(memory.get(name, 0.0), s.peak_rss_mib), 1)
    rejected = sum(
        1 for s in drive.sent if outcomes.get(s.command_id, {}).get("status") == "rejected"
    )
    return {
        "label": run.label,
        "mode": run.mode,
        "workflow_processes": run.workers,
        "concurrency": run.concurrency,
        "deliveries": len({s.delivery_id for s in drive.sent}),
        "sent": len(drive.sent),
        "applied": len(applied),
        "rejected": rejected,
        "failures": drive.failures[:10],
        "http_retries": sum(s.retries for s in drive.sent),
        "drive_seconds": round(drive.finished - drive.started, 1),
        "applied_per_s": round(steady, 1),
        "applied_per_s_whole_run": round(len(applied) / span, 1) if span == span else None,
        "latency_ms": _ms(answered_to_applied),
        "latency_from_request_ms": _ms(sent_to_applied),
        "stored_hops_mean_ms": {k: _mean_ms(v) for k, v in stored_hops.items()},
        "probed_hops_mean_ms": hops,
        "commands_queue_depth_mean": rounded(statistics.fmean(depths)) if depths else None,
        "commands_queue_nonempty_share": (
            round(sum(1 for d in depths if d > 0) / len(depths), 2) if depths else None
        ),
        "emails": len(emails),
        "emails_expected": EMAILS_PER_DELIVERY * len({s.delivery_id for s in drive.sent}),
        "emails_per_s": round(email_rate, 1),
        "peak_rss_mib": memory,
        "peak_rss_mib_per_workflow_process": [
            round(s.peak_rss_mib, 1) for s in services if s.name.startswith("workflow")
        ],
    }


def _probed_hops(mode: str, applied: list[Sent], probed: Probed) -> dict[str, Any]:
    """Mean milliseconds per command in consecutive hops, from the request (or publish) to the
    outcome recorded; each hop's calls, and the publish-to-202 leg, which runs beside them."""
    parts: dict[str, list[float]] = defaultdict(list)
    #: label -> [calls, seconds] over all commands
    ops: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for s in applied:
        timing = probed.workflow.get(s.command_id)
        published = probed.gateway_publishes.get(s.command_id) if mode == "http" else None
        if timing is None or (mode == "http" and published is None):
            continue
        began = published[0] if published else s.sent
        o = {k: v[1] for k, v in timing["ops"].items()}
        total = o.get("total", 0.0)
        db = sum(v for k, v in o.items() if k.startswith("db."))
        relay = o.get("relay", 0.0)
        relay_publish = o.get("relay/publish", 0.0)
        for k, (calls, seconds) in timing["ops"].items():
            if k != "total":
                ops[k][0] += calls
                ops[k][1] += seconds
        if published:
            parts["gateway_until_publish"].append(began - s.sent)
            parts["publish_confirm"].append(published[1])
            parts["confirm_to_202_at_client"].append(s.answered - began - published[1])
        else:
            parts["publish_confirm"].append(s.answered - s.sent)
        parts["broker_publish_to_worker"].append(timing["start"] - began)
        parts["workflow_database"].append(db)
        parts["relay_publish_confirm"].append(relay_publish)
        parts["relay_database"].append(relay - relay_publish)
        parts["workflow_compute"].append(total - db - relay)
        parts["end_to_end"].append(timing["start"] + total - s.sent)
    if not parts:
        return {}
    hops = {k: statistics.fmean(v) * 1000 for k, v in parts.items()}
    if mode == "http":
        totals = probed.gateway_totals
        requests = totals.get("publish", [0, 0.0])[0] or 1
        database = sum(v[1] for k, v in totals.items() if k.startswith("db.")) / requests * 1000
        hops["gateway_database"] = database
        hops["gateway_http_auth_validation"] = hops.pop("gateway_until_publish") - database
    result: dict[str, Any] = {k: round(v, 2) for k, v in hops.items()}
    result["workflow_calls_mean_ms"] = {
        k: round(seconds / calls * 1000, 2) for k, (calls, seconds) in sorted(ops.items())
    }
    result["workflow_calls_per_command"] = {
        k: round(calls / len(parts["end_to_end"]), 2) for k, (calls, _) in sorted(ops.items())
    }
    if mode == "http":
        result["gateway_calls_mean_ms"] = {
            k: round(v[1] / v[0] * 1000, 2)
            for k, v in sorted(probed.gateway_totals.items())
            if v[0]
        }
    return result


# --- the table ---------------------------------------------------------------------------------


#: The consecutive hops of a command, from the request (or publish) to its outcome recorded,
#: and how each is known.
HOPS = {
    "gateway_http_auth_validation": "derived: request -> publish began, minus gateway_database",
    "gateway_database": "probed, mean per request (find delivery, insert command record)",
    "broker_publish_to_worker": "measured: publish began -> workflow began applying",
    "workflow_database": "probed (load, save, outcome)",
    "relay_publish_confirm": "probed (event published, broker confirm)",
    "relay_database": "probed (file deadlines, mark outbox relayed)",
    "workflow_compute": "derived: apply time minus the probed calls",
}


def share_table(hops: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(hop, mean ms, share of end-to-end, how it is known)."""
    total = hops.get("end_to_end") or float("nan")
    return [
        (name, f"{hops[name]:.1f}", f"{hops[name] / total:.0%}", how)
        for name, how in HOPS.items()
        if name in hops
    ]


def print_report(figures: dict[str, Any]) -> None:
    def line(label: str, value: Any) -> None:
        print(f"  {label:<50} {value}")

    print("\n=== machine")
    for key in ("cores", "load_average_at_start", "python", "rabbitmq", "erlang", "database"):
        line(key, figures[key])
    raw = figures["raw"]
    print("\n=== raw limits (same run)")
    for key, value in {**raw["broker"], **raw["database"]}.items():
        line(key, value)
    line("broker limit: min(best publish, consume) /s", raw["broker_limit_per_s"])
    line("database limit: best find_one_and_update /s", raw["database_limit_per_s"])
    for run in figures["runs"]:
        print(
            f"\n=== {run['label']}: {run['mode']} path, {run['workflow_processes']} workflow "
            f"process(es), {run['deliveries']} deliveries, {run['concurrency']} at a time"
        )
        for key in (
            "applied",
            "rejected",
            "drive_seconds",
            "applied_per_s",
            "applied_per_s_whole_run",
            "vs_slower_raw_limit",
            "latency_ms",
            "latency_from_request_ms",
            "stored_hops_mean_ms",
            "commands_queue_depth_mean",
            "commands_queue_nonempty_share",
            "emails",
            "emails_per_s",
            "peak_rss_mib",
            "cpu_share_of_one_core",
            "cpu_ms_per_applied_command",
        ):
            line(key, run[key])
        if run["failures"]:
            line("failures", run["failures"])
        hops = run["probed_hops_mean_ms"]
        if hops:
            print(
                f"  where a command's time goes (mean {hops['end_to_end']:.0f} ms, "
                "request or publish -> outcome recorded):"
            )
            for name, ms, share, how in share_table(hops):
                print(f"    {name:<30} {ms:>8} ms {share:>5}  {how}")
            beside = f"publish + confirm {hops['publish_confirm']:.1f} ms"
            if "confirm_to_202_at_client" in hops:
                beside += (
                    f", confirm -> 202 at the client {hops['confirm_to_202_at_client']:.1f} ms"
                )
            print(f"    beside the hops: {beside}")
            calls = hops["workflow_calls_per_command"]
            print("    workflow calls, mean ms (calls per command):")
            for name, ms in hops["workflow_calls_mean_ms"].items():
                print(f"      {name:<44} {ms:>8.1f} ({calls[name]})")
        for name, profile in (run.get("profiles") or {}).items():
            if not profile:
                continue
            print(
                f"  py-spy, {name}: {profile['samples']} samples holding the GIL in "
                f"{profile['seconds']} s ({profile['busy_share_of_one_core']:.0%} of one core)"
            )
            print("    own time:")
            for frame, share in profile["own_time"][:6]:
                print(f"    {share:>6.1%}  {frame}")
            print("    under our functions:")
            for frame, share in profile["under_our_functions"][:6]:
                print(f"    {share:>6.1%}  {frame}")
    print("\n=== scaling: applied/s (vs slower raw limit) by workflow processes")
    for mode in ("http", "bus"):
        row = [r for r in figures["runs"] if r["mode"] == mode and r["label"] != "unloaded"]
        if row:
            line(
                mode,
                "  ".join(
                    f"{r['workflow_processes']}: {r['applied_per_s']} ({r['vs_slower_raw_limit']})"
                    for r in row
                ),
            )
    for note in figures["notes"]:
        print(f"  note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=DELIVERIES, help="per run")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="deliveries at once")
    parser.add_argument("--workers", default="1,2,4", help="workflow processes of the HTTP runs")
    parser.add_argument("--bus-workers", default="1,2,4", help="workflow processes of bus runs")
    parser.add_argument(
        "--unloaded", type=int, default=10, help="deliveries one at a time first (0: none)"
    )
    parser.add_argument(
        "--budget", type=float, default=570.0, help="seconds; runs that would pass it are skipped"
    )
    parser.add_argument("--no-probe", dest="probe", action="store_false")
    parser.add_argument(
        "--py-spy", action="store_true", help="profile the first loaded HTTP run with py-spy"
    )
    args = parser.parse_args()
    runs: list[Run] = []
    if args.unloaded:
        runs.append(Run("http", 1, args.unloaded, 1, "unloaded"))
    runs += [
        Run("http", w, args.deliveries, args.concurrency, f"http-{w}w")
        for w in (int(x) for x in args.workers.split(",") if x)
    ]
    runs += [
        Run("bus", w, args.deliveries, args.concurrency, f"bus-{w}w")
        for w in (int(x) for x in args.bus_workers.split(",") if x)
    ]
    loaded_http = [r for r in runs if r.mode == "http" and r.label != "unloaded"]
    if args.py_spy and loaded_http:
        loaded_http[0].profile = True

    started = time.monotonic()
    settings = Settings()
    ensure_infrastructure(settings)
    with MongoClient(settings.mongo_url) as client:
        database = database_version(client)
    versions = rabbitmq_version(settings.amqp_url)
    figures: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "rabbitmq": versions["rabbitmq"],
        "erlang": versions["erlang"],
        "database": database,
        "deliveries": args.deliveries,
        "concurrency": args.concurrency,
        "probe": args.probe,
        "notes": [],
    }
    print(
        f"{figures['cores']} cores, load average {figures['load_average_at_start']}; "
        f"RabbitMQ {versions['rabbitmq']}; database {database}"
    )

    with isolated(settings) as iso:
        print("raw limits: broker", flush=True)
        broker = raw_broker(iso.amqp_url)
        print(f"raw limits: database, {args.deliveries} deliveries in the collection", flush=True)
        db = asyncio.run(raw_database(iso.mongo_url, iso.name, args.deliveries))
    best_publish = max(
        broker["publish_confirm_per_s_1_connection"], broker["publish_confirm_per_s_4_connections"]
    )
    broker_limit = min(best_publish, broker["consume_ack_per_s"])
    database_limit = max(
        db["find_one_and_update_per_s_1"], db[f"find_one_and_update_per_s_{RAW_CONCURRENCY}"]
    )
    figures["raw"] = {
        "broker": broker,
        "database": db,
        "broker_limit_per_s": broker_limit,
        "database_limit_per_s": database_limit,
    }
    slower = min(broker_limit, database_limit)

    done: list[dict[str, Any]] = []
    longest = 0.0
    for run in runs:
        elapsed = time.monotonic() - started
        if run.label != "unloaded" and elapsed + longest * 1.2 > args.budget:
            figures["notes"].append(
                f"{run.label} skipped: {elapsed:.0f} s gone, the last run took {longest:.0f} s "
                f"and the budget is {args.budget:.0f} s"
            )
            print(f"\n[{run.label}] skipped to stay within {args.budget:.0f} s", flush=True)
            continue
        run_started = time.monotonic()
        figures_of_run = run_path(settings, run, args.probe)
        figures_of_run["vs_slower_raw_limit"] = round(figures_of_run["applied_per_s"] / slower, 3)
        done.append(figures_of_run)
        if run.label != "unloaded":
            longest = max(longest, time.monotonic() - run_started)
    figures["runs"] = done
    figures["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    figures["seconds"] = round(time.monotonic() - started, 1)
    print_report(figures)
    print(f"\n  took {figures['seconds']} s; load average at end {figures['load_average_at_end']}")
    out = write_results("commands", figures)
    print(f"written to {out}")
    if any(run["failures"] or run["applied"] < run["sent"] for run in done):
        sys.exit("some commands were not applied; see the failures above and bench/logs/")


if __name__ == "__main__":
    main()
