"""The whole system under test: the four services as real processes on real infrastructure."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pika
from pymongo import MongoClient

from services.runtime.bootstrap import amqp_parameters
from shared.config import Settings
from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE
from tests.integration.waiting import PATIENCE
from tooling.provision import ensure_infrastructure, free_port
from tooling.vhosts import create_vhost, delete_vhost

SERVICES = ("gateway", "workflow", "timers", "notifier")
#: Queues each consuming service must be attached to before tests start.
CONSUMED_QUEUES = {"workflow": COMMANDS_QUEUE, "notifier": NOTIFICATIONS_QUEUE}
JWT_SECRET = "integration-tests-secret-at-least-32-bytes"


@dataclass
class Service:
    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    #: Stopped by the test on purpose: not expected to run until started again.
    stopped: bool = False

    def start(self) -> None:
        self.stopped = False
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.stopped = True
        self.signal(sig)
        self.wait_stopped()

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait_stopped(self, timeout: float = PATIENCE) -> None:
        """Until the process has exited; killed if it is still there after ``timeout`` s."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """``kill -9``: no chance to hand anything back."""
        self.stop(signal.SIGKILL)


@dataclass
class System:
    env: dict[str, str]
    base_url: str
    jwt_secret: str
    amqp_url: str
    log_dir: Path
    services: dict[str, Service] = field(default_factory=dict)

    def start(self) -> None:
        for name in SERVICES:
            service = Service(name, self.env, self.log_dir / f"{name}.log")
            service.start()
            self.services[name] = service
        self.wait_ready()

    def restart(self, name: str) -> None:
        self.services[name].start()
        self.wait_ready()

    def stop(self) -> None:
        # All at once: each takes a while to finish its work and exit, and none waits for another.
        for service in self.services.values():
            service.signal(signal.SIGTERM)
        for service in self.services.values():
            service.wait_stopped()

    def wait_ready(self, timeout: float = PATIENCE) -> None:
        deadline = time.monotonic() + timeout
        with _Consumers(self.amqp_url) as consumers:
            while time.monotonic() < deadline:
                running = {name for name, s in self.services.items() if not s.stopped}
                for name in running:
                    service = self.services[name]
                    if service.process is not None and service.process.poll() is not None:
                        raise RuntimeError(f"{service.name} exited; see {service.log_path}")
                if ("gateway" not in running or self._gateway_up()) and all(
                    consumers.of(queue) > 0
                    for name, queue in CONSUMED_QUEUES.items()
                    if name in running
                ):
                    return
                # Often: every (re)start of a service waits here, and a look costs little.
                time.sleep(0.05)
        raise TimeoutError(f"services not ready within {timeout} s; logs in {self.log_dir}")

    def _gateway_up(self) -> bool:
        # The gateway's own answer, not any server's 200: another server on its port (a
        # metrics endpoint answers every path) must not pass for it.
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                return response.status == 200 and json.loads(response.read()) == {"status": "ok"}
        except (OSError, ValueError):
            return False


class _Consumers:
    """Consumers attached to queues, looked up over one connection kept open between looks
    (0 while a queue does not exist yet)."""

    def __init__(self, amqp_url: str) -> None:
        self.parameters = amqp_parameters(amqp_url)
        self.connection: pika.BlockingConnection | None = None
        self.channel = None

    def of(self, queue: str) -> int:
        try:
            if self.connection is None or not self.connection.is_open:
                self.connection = pika.BlockingConnection(self.parameters)
                self.channel = None
            if self.channel is None or not self.channel.is_open:
                self.channel = self.connection.channel()
            return self.channel.queue_declare(queue, passive=True).method.consumer_count
        except pika.exceptions.ChannelClosedByBroker:  # no such queue yet: the channel is gone
            self.channel = None
            return 0

    def close(self) -> None:
        if self.connection is not None and self.connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                self.connection.close()
        self.connection = self.channel = None

    def __enter__(self) -> _Consumers:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def test_environment(
    *, amqp_url: str, db_name: str, http_port: int, smtp_port: int, secret: str, **overrides: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update(
        {
            "DC_AMQP_URL": amqp_url,
            "DC_MONGO_URL": os.environ.get("DC_MONGO_URL", "mongodb://127.0.0.1:27017/"),
            "DC_MONGO_DB": db_name,
            "DC_HTTP_PORT": str(http_port),
            "DC_PUBLIC_URL": f"http://127.0.0.1:{http_port}",
            "DC_SMTP_HOST": "127.0.0.1",
            "DC_SMTP_PORT": str(smtp_port),
            "DC_JWT_SECRET": secret,
            # Short deadlines so the clock's work is seen within a test.
            "DC_CONFIRM_WINDOW": "8",
            "DC_REMINDER_LEAD": "4",
            "DC_TIMER_POLL_INTERVAL": "1",
            # The scorecard table (/admin, the ISV's page) refreshed every second: a test
            # waits for a refresh, not for minutes.
            "DC_SCORECARD_REFRESH": "1",
            "DC_ADMIN_EMAIL": "admin@example.com",
            # Webhook receivers in tests listen on loopback, refused by default (SSRF).
            "DC_WEBHOOK_ALLOWED_ADDRESSES": "loopback",
            # Failed webhooks retried a second apart (doubling), so a test sees the retries.
            "DC_WEBHOOK_RETRY_BASE": "1",
            "DC_WORKFLOW_METRICS_PORT": str(free_port()),
            "DC_TIMERS_METRICS_PORT": str(free_port()),
            "DC_NOTIFIER_METRICS_PORT": str(free_port()),
            **overrides,
        }
    )
    return env


ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _fresh_log_dir(label: str) -> Path:
    """``tests/artifacts/logs/<label>-<pid>``; folders of test runs that are over are removed."""
    root = ARTIFACTS / "logs"
    root.mkdir(parents=True, exist_ok=True)
    for folder in root.iterdir():
        owner = folder.name.rpartition("-")[2]
        if folder.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(folder, ignore_errors=True)
    log_dir = root / f"{label}-{os.getpid()}"
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir()
    return log_dir


@contextmanager
def running_system(
    smtp_port: int, label: str, *, own_broker_url: str | None = None, **overrides: str
) -> Iterator[System]:
    """A whole system on its own RabbitMQ virtual host and database, stopped and dropped after.

    ``own_broker_url`` runs it on a broker of the caller's own (whose default virtual host
    nobody else uses) instead of a virtual host on the shared one; ``DC_MONGO_URL`` among the
    overrides, on a database server of the caller's own.
    """
    settings = Settings()
    ensure_infrastructure(settings)
    # Database names are short on FerretDB: the label only names the log folder.
    name = f"dc_test_{uuid.uuid4().hex[:12]}"
    amqp_url = own_broker_url or create_vhost(settings.amqp_url, name)
    http_port = free_port()
    env = test_environment(
        amqp_url=amqp_url,
        db_name=name,
        http_port=http_port,
        smtp_port=smtp_port,
        secret=JWT_SECRET,
        **overrides,
    )
    log_dir = _fresh_log_dir(label)
    system = System(
        env=env,
        base_url=f"http://127.0.0.1:{http_port}",
        jwt_secret=JWT_SECRET,
        amqp_url=amqp_url,
        log_dir=log_dir,
    )
    try:
        system.start()
        yield system
    finally:
        system.stop()
        with MongoClient(env["DC_MONGO_URL"]) as client:
            client.drop_database(name)
        if own_broker_url is None:
            delete_vhost(settings.amqp_url, name)
