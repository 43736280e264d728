"""Helpers shared by the benchmarks: an isolated vhost and database (on the shared server or on
a FerretDB of the benchmark's own), service processes and their environment, memory, server
versions, realistic documents and messages, figures written to bench/results."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
from pymongo import MongoClient

from services.runtime.bus import command_message
from services.runtime.collections import DELIVERIES
from services.runtime.delivery_days import DAY_FIELDS, day_fields
from services.runtime.party_lists import LIST_FIELDS, list_fields_of
from services.workflow.store import DeliveryStore
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import (
    Confirm,
    Contact,
    Finish,
    OpenDelivery,
    RequestChanges,
    SubmitDemand,
)
from shared.domain.engine import Applied, Policy, decide, delivery_id_for, open_delivery
from shared.domain.roles import Actor, Role
from tooling.ferretdb import start_ferretdb, stop_ferretdb
from tooling.mailsink import MailSink
from tooling.vhosts import MANAGEMENT_PORT, consumer_count, create_vhost, delete_vhost

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
#: Service logs of the last run of each benchmark.
LOGS = BENCH / "logs"


# --- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def write_results(prefix: str, figures: dict[str, Any], out: Path | None = None) -> Path:
    """Write ``figures`` to bench/results/<prefix>-<time>.json, or over ``out`` (a benchmark
    that saves as it goes); returns the path."""
    RESULTS.mkdir(exist_ok=True)
    out = out or RESULTS / f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return out


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a live process, in MiB; 0 once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a live process has used, in seconds; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of stat (utime, stime), counted after the ``(comm)`` field.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, all) CPU seconds the whole machine has spent since boot, summed over its cores
    (``/proc/stat``; idle and I/O wait are not busy)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq + steal
    return busy / tick, (busy + idle + iowait) / tick


def server_pids(settings: Settings) -> dict[str, int]:
    """The pids of the local FerretDB and RabbitMQ (beam.smp) servers, where found."""
    found: dict[str, int] = {}
    pid_file = settings.state_dir / "ferretdb" / "ferretdb.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        if Path(f"/proc/{pid}/comm").read_text().strip() == "ferretdb":
            found["ferretdb"] = pid
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if (proc / "comm").read_text().strip() == "beam.smp":
                    found["rabbitmq"] = int(proc.name)
                    break
    return found


# --- the servers -------------------------------------------------------------------------------


def management_get(amqp_url: str, path: str) -> Any:
    parts = urlsplit(amqp_url)
    credentials = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or 'guest')}"
    request = urllib.request.Request(f"http://{parts.hostname}:{MANAGEMENT_PORT}/api/{path}")
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def rabbitmq_version(amqp_url: str) -> dict[str, str | None]:
    try:
        overview = management_get(amqp_url, "overview")
        return {
            "rabbitmq": overview.get("rabbitmq_version"),
            "erlang": overview.get("erlang_version"),
        }
    except OSError:
        try:
            out = subprocess.run(
                ["rabbitmqctl", "version"], capture_output=True, text=True, timeout=30
            )
            return {"rabbitmq": out.stdout.strip() or None, "erlang": None}
        except (OSError, subprocess.SubprocessError):
            return {"rabbitmq": None, "erlang": None}


def database_version(client: MongoClient) -> dict[str, str | None]:
    info = client.admin.command("buildInfo")
    return {"mongodb_protocol": info.get("version"), "ferretdb": info.get("ferretdbVersion")}


@dataclass
class Isolated:
    """A RabbitMQ virtual host and a database of the benchmark's own."""

    name: str
    amqp_url: str
    mongo_url: str


@contextlib.contextmanager
def isolated(
    settings: Settings, prefix: str = "dc_bench", mongo_url: str | None = None
) -> Iterator[Isolated]:
    """A fresh vhost and database (names short enough for FerretDB), deleted and dropped after;
    the database on ``mongo_url`` (a server of the benchmark's own) or on the configured one."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    mongo_url = mongo_url or settings.mongo_url
    amqp_url = create_vhost(settings.amqp_url, name)
    try:
        yield Isolated(name, amqp_url, mongo_url)
    finally:
        with contextlib.suppress(Exception), MongoClient(mongo_url) as client:
            client.drop_database(name)
        with contextlib.suppress(Exception):
            delete_vhost(settings.amqp_url, name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PrivateFerretDB:
    """A FerretDB process of the benchmark's own, with its SQLite files under ``data``."""

    url: str
    pid: int
    home: Path

    @property
    def data(self) -> Path:
        return self.home / "data"

    def file_bytes(self) -> dict[str, int]:
        """Bytes its SQLite files take on disk: ``total``, and of those the write-ahead logs
        (``wal``), which SQLite reuses but does not shrink after a burst of writes."""
        files = [f for f in self.data.rglob("*") if f.is_file()]
        wal = sum(f.stat().st_blocks * 512 for f in files if f.name.endswith("-wal"))
        return {"total": sum(f.stat().st_blocks * 512 for f in files), "wal": wal}


@contextlib.contextmanager
def private_ferretdb(binary: Path, parent: Path, keep: bool = False) -> Iterator[PrivateFerretDB]:
    """``binary`` started on a free loopback port with its files in a new directory under
    ``parent``; stopped afterwards and its files deleted unless ``keep``.

    A benchmark that stores a million documents must not put them in the server that others
    use, nor stop or restart that one.
    """
    parent.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"{binary.name}-", dir=parent))
    port = free_port()
    process = start_ferretdb(binary, "127.0.0.1", port, home)
    try:
        yield PrivateFerretDB(f"mongodb://127.0.0.1:{port}/", process.pid, home)
    finally:
        stop_ferretdb(process.pid)
        process.wait()
        if keep:
            print(f"kept {binary.name}'s files in {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)


# --- service processes -------------------------------------------------------------------------

#: The gateway's token secret in every benchmark run.
JWT_SECRET = "bench-secret-" + "x" * 32


def token(sub: str, role: str) -> str:
    """A bearer token for ``sub`` in ``role``, valid for two hours."""
    claims = {"sub": sub, "role": role, "exp": datetime.now(UTC) + timedelta(hours=2)}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def command_path_env(isolated: Isolated, http_port: int, smtp_port: int) -> dict[str, str]:
    """The services' environment for driving deliveries: only the parties act (long deadlines),
    no rate limit, mail to the benchmark's SMTP sink, no metrics listeners."""
    return service_env(
        isolated,
        DC_HTTP_PORT=str(http_port),
        DC_PUBLIC_URL=f"http://127.0.0.1:{http_port}",
        DC_SMTP_HOST="127.0.0.1",
        DC_SMTP_PORT=str(smtp_port),
        DC_JWT_SECRET=JWT_SECRET,
        DC_CONFIRM_WINDOW="P14D",
        DC_REMINDER_LEAD="P3D",
        DC_RATE_LIMIT_PER_SECOND="1000000",
        DC_RATE_LIMIT_BURST="1000000",
        # Several workers (and other runs) share this machine: their default ports would clash.
        DC_WORKFLOW_METRICS_PORT="0",
        DC_TIMERS_METRICS_PORT="0",
        DC_NOTIFIER_METRICS_PORT="0",
    )


def service_env(isolated: Isolated, **settings: str) -> dict[str, str]:
    """The environment of a service on ``isolated``: no inherited ``DC_`` variable leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update(
        {
            "DC_AMQP_URL": isolated.amqp_url,
            "DC_MONGO_URL": isolated.mongo_url,
            "DC_MONGO_DB": isolated.name,
            "DC_LOG_LEVEL": "WARNING",
            **settings,
        }
    )
    return env


@dataclass
class ServiceProcess:
    """One service as a real process: ``python -m services.<name>``, or with ``probe`` set,
    the same service run by bench/probe.py, which times its database and broker calls and
    writes them to ``probe`` when the service stops."""

    name: str
    env: dict[str, str]
    log_path: Path
    probe: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    peak_rss_mib: float = 0.0
    #: CPU seconds used so far, as last sampled.
    cpu_seconds: float = 0.0

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.probe is None:
            argv = [sys.executable, "-m", f"services.{self.name.split('#')[0]}"]
        else:
            argv = [sys.executable, "-m", "bench.probe", self.name.split("#")[0], str(self.probe)]
        with self.log_path.open("ab") as log:
            # From the repository's root, where ``bench`` imports as a package.
            self.process = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH.parent
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample(self) -> None:
        """Read the peak RSS so far (VmHWM) and the CPU time used; both are kept, since they
        are gone once the process exits."""
        if self.alive():
            self.peak_rss_mib = max(self.peak_rss_mib, rss_mib(self.pid, "VmHWM"))
            self.cpu_seconds = cpu_seconds(self.pid) or self.cpu_seconds

    def stop(self, timeout: float = 30.0) -> None:
        if not self.alive():
            return
        self.sample()
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def wait_ready(
    services: Sequence[ServiceProcess],
    amqp_url: str,
    consumers: dict[str, int],
    http_url: str | None = None,
    timeout: float = 90.0,
) -> None:
    """Until ``http_url``/healthz answers and each queue has its number of consumers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            if not service.alive():
                raise RuntimeError(f"{service.name} exited; see {service.log_path}")
        if (http_url is None or _answers(f"{http_url}/healthz")) and all(
            consumer_count(amqp_url, queue) >= count for queue, count in consumers.items()
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"services not ready within {timeout} s; see {LOGS}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


# --- mail --------------------------------------------------------------------------------------


class TimedMailSink(MailSink):
    """A MailSink that remembers when each message arrived and to whom, and keeps no bodies.

    ``on_arrival``, if set, is called (in the sink's thread) with each message's recipients.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.arrivals: list[float] = []
        self.on_arrival: Callable[[list[str]], None] | None = None
        self._lock = threading.Lock()
        self._headers = BytesHeaderParser()

    def _receive(self, raw: bytes) -> None:
        headers = self._headers.parsebytes(raw)
        to = [address.lower() for _, address in getaddresses(headers.get_all("To", []))]
        with self._lock:
            self.arrivals.append(time.time())
        callback = self.on_arrival
        if callback is not None:
            # The watcher may be gone (its loop closed); the message was received all the same.
            with contextlib.suppress(RuntimeError):
                callback(to)

    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)


# --- realistic documents and messages ----------------------------------------------------------

CONTACT = Contact(name="Ann Buyer", phone="+1 555 0100", email="ann@customer.example.com")
DEMANDS = (
    "Five pages: home, products, about us, contact and a blog; our logo and colours; "
    "a contact form that emails sales; English and German."
)


def open_command(order_id: str, customer_id: str, isv_id: str) -> OpenDelivery:
    return OpenDelivery(
        order_id=order_id,
        order_spec="Company website, 5 pages",
        product_id="prod-website",
        isv_id=isv_id,
        customer_id=customer_id,
        customer_email=f"{customer_id}@customer.example.com",
        isv_email=f"{isv_id}@isv.example.com",
        process="basic",
    )


#: The basic process after opening: (role, command).
BASIC_STEPS = (
    (Role.CUSTOMER, SubmitDemand(contact=CONTACT, demands=DEMANDS)),
    (Role.ISV, Finish(note="The site is live at the staging address; please review.")),
    (Role.CUSTOMER, Confirm()),
)


def delivery_documents_along(
    steps: Sequence[tuple[Role, Any]], customer: str, isv: str, now: datetime
) -> list[dict[str, Any]]:
    """The documents the workflow stores for one delivery: after opening and after each of
    ``steps`` (role, command), each with its revision and an empty (relayed) outbox, built by
    the engine itself."""
    decision = open_delivery(
        open_command(f"order-{uuid.uuid4().hex}", customer, isv),
        Actor(id="shop", role=Role.MARKETPLACE),
        command_id=uuid.uuid4().hex,
        now=now,
    )
    assert isinstance(decision, Applied)
    delivery = decision.delivery
    policy = Policy(confirm_window=timedelta(days=14), reminder_lead=timedelta(days=3))
    stored = [delivery]
    for step, (role, command) in enumerate(steps, start=1):
        actor = Actor(id=customer if role == Role.CUSTOMER else isv, role=role)
        decision = decide(
            delivery,
            command,
            actor,
            command_id=uuid.uuid4().hex,
            now=now + timedelta(seconds=step),
            policy=policy,
        )
        assert isinstance(decision, Applied), decision
        delivery = decision.delivery
        stored.append(delivery)
    return [
        {"_id": d.delivery_id, **d.model_dump(), "revision": revision, "outbox": []}
        for revision, d in enumerate(stored, start=1)
    ]


def completed_delivery_document() -> dict[str, Any]:
    """A delivery as the workflow stores it once the basic process has completed (its largest
    form in the command-path run), built by the engine itself."""
    customer, isv = f"customer-{uuid.uuid4().hex[:8]}", f"isv-{uuid.uuid4().hex[:8]}"
    return delivery_documents_along(BASIC_STEPS, customer, isv, datetime.now(UTC))[-1]


#: The basic process with one round of changes: open, submit, finish, request changes,
#: finish again, confirm.
REWORKED_STEPS = (
    BASIC_STEPS[0],
    BASIC_STEPS[1],
    (
        Role.CUSTOMER,
        RequestChanges(reason="The contact form does not send anything; the German pages miss."),
    ),
    (Role.ISV, Finish(note="Contact form fixed and German pages added; please review again.")),
    BASIC_STEPS[2],
)


async def stored_along(
    db: Any, steps: Sequence[tuple[Role, Any]], customer: str, isv: str, now: datetime
) -> list[dict[str, Any]]:
    """The documents the workflow's own store (``DeliveryStore``) writes for one delivery in
    ``db``: after opening and after each of ``steps`` (role, command), each read back once its
    outbox was relayed (``mark_relayed``), so they carry every bookkeeping field the product
    keeps. The delivery is deleted afterwards."""
    store = DeliveryStore(db)
    policy = Policy(confirm_window=timedelta(days=14), reminder_lead=timedelta(days=3))
    decision = open_delivery(
        open_command(f"order-{uuid.uuid4().hex}", customer, isv),
        Actor(id="shop", role=Role.MARKETPLACE),
        command_id=uuid.uuid4().hex,
        now=now,
    )
    assert isinstance(decision, Applied)
    delivery_id = decision.delivery.delivery_id
    outbox = await store.create(decision)
    documents = []
    for step, (role, command) in enumerate([(Role.MARKETPLACE, None), *steps]):
        if command is not None:
            stored = await store.load(delivery_id)
            assert stored is not None
            actor = Actor(id=customer if role == Role.CUSTOMER else isv, role=role)
            decision = decide(
                stored.delivery,
                command,
                actor,
                command_id=uuid.uuid4().hex,
                now=now + timedelta(seconds=step),
                policy=policy,
            )
            assert isinstance(decision, Applied), decision
            outbox = await store.save_applied(stored, decision)
        await store.mark_relayed(delivery_id, outbox)
        documents.append(await db[DELIVERIES].find_one({"_id": delivery_id}))
    await db[DELIVERIES].delete_one({"_id": delivery_id})
    return documents


@dataclass
class StoredDeliveries:
    """Realistic delivery documents, numbered: copies of documents the workflow's store wrote
    once (a mix of states: 30% in progress, 70% completed, a third of those after a round of
    changes), each with its own ids, parties and times (``build``).

    Delivery ``k`` belongs to ``customer_of(k)``: every customer has ten deliveries, a hundred
    rows apart (so listing one is not one contiguous read), and to one of a thousand ISVs.
    Delivery ``k`` opened ``k`` minutes after 2024-01-01: 1,440 a day.
    """

    templates: list[dict[str, Any]]
    epoch: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    #: Customers per block of a thousand deliveries (ten deliveries each).
    CUSTOMERS_PER_BLOCK = 100
    ISVS = 1000

    @classmethod
    async def build(cls, db: Any) -> StoredDeliveries:
        """Templates written and read back through the product's store in ``db``."""
        now = datetime.now(UTC)
        basic = await stored_along(db, BASIC_STEPS, "customer-x", "isv-x", now)
        reworked = await stored_along(db, REWORKED_STEPS, "customer-x", "isv-x", now)
        # awaiting_demand, in_delivery, awaiting_confirmation, completed x4, reworked x3
        mix = [basic[0], basic[1], basic[2]] + [basic[3]] * 4 + [reworked[-1]] * 3
        return cls([{k: v for k, v in t.items() if k not in _VARIED} for t in mix])

    @staticmethod
    def delivery_id(k: int) -> str:
        return delivery_id_for(StoredDeliveries.order_id(k))

    @staticmethod
    def order_id(k: int) -> str:
        return f"bench-order-{k}"

    @classmethod
    def customer_of(cls, k: int) -> str:
        block, row = divmod(k, 1000)
        return f"customer-{block * cls.CUSTOMERS_PER_BLOCK + row % cls.CUSTOMERS_PER_BLOCK}"

    @classmethod
    def isv_of(cls, k: int) -> str:
        return f"isv-{k % cls.ISVS}"

    def revision_of(self, k: int) -> int:
        return self.templates[k % len(self.templates)]["revision"]

    def opened_at(self, k: int) -> datetime:
        return self.epoch + timedelta(minutes=k)

    def document(self, k: int) -> dict[str, Any]:
        """Delivery ``k`` as stored; a shallow copy of its template (the nested values are
        shared, which is fine for encoding)."""
        template = self.templates[k % len(self.templates)]
        delivery_id = self.delivery_id(k)
        customer, isv = self.customer_of(k), self.isv_of(k)
        opened = self.opened_at(k)
        # Changed within the hour it opened: its day fields are those of the opening.
        updated = opened + timedelta(seconds=template["version"])
        parties = {"customer_id": customer, "isv_id": isv, "updated_at": updated}
        return {
            **template,
            **list_fields_of({**template, **parties}),
            "_id": delivery_id,
            "delivery_id": delivery_id,
            "order_id": self.order_id(k),
            "customer_id": customer,
            "customer_email": f"{customer}@customer.example.com",
            "isv_id": isv,
            "isv_email": f"{isv}@isv.example.com",
            "opened_at": opened,
            "updated_at": updated,
            **day_fields(opened, updated, state=template["state"], isv_id=isv),
        }


#: The fields StoredDeliveries sets per document.
_VARIED = (
    "_id",
    "delivery_id",
    "order_id",
    "customer_id",
    "customer_email",
    "isv_id",
    "isv_email",
    "opened_at",
    "updated_at",
    *DAY_FIELDS,
    *LIST_FIELDS,
)


def submit_demand_envelope() -> CommandEnvelope:
    """The largest command of the basic process, as the workflow receives it."""
    return CommandEnvelope(
        command_id=uuid.uuid4().hex,
        delivery_id=uuid.uuid4().hex,
        actor=Actor(id=f"customer-{uuid.uuid4().hex[:8]}", role=Role.CUSTOMER),
        issued_at=datetime.now(UTC),
        command=BASIC_STEPS[0][1],
    )


def encoded_command_message(envelope: CommandEnvelope) -> bytes:
    """The bytes dramatiq puts on ``dc.commands`` for ``envelope``."""
    return command_message(envelope).encode()


# --- profiles ----------------------------------------------------------------------------------


#: A py-spy frame in our code: ``function (services/...py:line)``.
OUR_FRAME = re.compile(r"[(/](services|shared)/")
LINE = re.compile(r":\d+\)$")


class PySpy:
    """``py-spy record`` of a live process until ``stop()``: the stacks of whichever thread holds
    the GIL (so Python on the CPU, not threads waiting), as collapsed stacks (``raw``)."""

    def __init__(self, pid: int, out: Path, rate: int = 100):
        self.out = out
        self.rate = rate
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.seconds = 0.0
        binary = shutil.which("py-spy")
        if binary is None:
            return
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking", "--gil"]
            + ["--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.seconds = time.monotonic() - self.started
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def summary(self, top: int = 12) -> dict[str, Any] | None:
        """Samples holding the GIL, and the functions they were in (own time) and, of ours, under
        (inclusive time), each as a share of the samples."""
        if self.process is None or not self.out.exists():
            return None
        own: dict[str, int] = {}
        ours: dict[str, int] = {}
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            samples = int(count)
            total += samples
            # One entry per function: ``name (file:line)`` loses its line.
            frames = [LINE.sub(")", frame) for frame in stack.split(";")]
            own[frames[-1]] = own.get(frames[-1], 0) + samples
            for frame in {f for f in frames if OUR_FRAME.search(f)}:
                ours[frame] = ours.get(frame, 0) + samples
        possible = self.rate * self.seconds or 1

        def ranked(counts: dict[str, int]) -> list[tuple[str, float]]:
            best = sorted(counts.items(), key=lambda item: -item[1])[:top]
            return [(frame, round(n / total, 3)) for frame, n in best]

        return {
            "samples": total,
            "seconds": round(self.seconds, 1),
            "busy_share_of_one_core": round(total / possible, 2),
            "own_time": ranked(own),
            "under_our_functions": ranked(ours),
            "raw": str(self.out),
        }
