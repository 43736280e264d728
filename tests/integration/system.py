"""The whole system under test: the four services as real processes on real infrastructure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pika

from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE

SERVICES = ("gateway", "workflow", "timers", "notifier")
#: Queues each consuming service must be attached to before tests start.
CONSUMED_QUEUES = {"workflow": COMMANDS_QUEUE, "notifier": NOTIFICATIONS_QUEUE}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def purge_queues(amqp_url: str) -> None:
    """Start from empty queues: a previous run may have left messages behind."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for queue in (COMMANDS_QUEUE, NOTIFICATIONS_QUEUE):
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                try:
                    channel.queue_purge(name)
                except pika.exceptions.ChannelClosedByBroker:
                    channel = connection.channel()  # the queue does not exist yet
    finally:
        connection.close()


def consumer_count(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        connection.close()


@dataclass
class Service:
    name: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
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
        for service in self.services.values():
            service.stop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in self.services.values():
                if service.process is not None and service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited; see {service.log_path}")
            if self._gateway_up() and all(
                consumer_count(self.amqp_url, queue) > 0 for queue in CONSUMED_QUEUES.values()
            ):
                return
            time.sleep(0.2)
        raise TimeoutError(f"services not ready within {timeout} s; logs in {self.log_dir}")

    def _gateway_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False


def test_environment(*, db_name: str, http_port: int, smtp_port: int, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}
    env.update(
        {
            "DC_AMQP_URL": os.environ.get("DC_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
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
            "DC_TIMER_POLL_INTERVAL": "PT0.2S",
            "DC_ADMIN_EMAIL": "admin@example.com",
        }
    )
    return env
