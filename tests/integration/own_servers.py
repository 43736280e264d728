"""Servers a test may stop and start: a RabbitMQ node and a FerretDB of the test's own.

Other people's tests run on the machine's shared broker and database at the same time, so a
test that takes a server down must never touch those. These start a private one on free
ports with everything (data, logs, cookie, config) in a temporary folder, and remove it after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from tests.integration.system import free_port
from tooling.ferretdb import ferretdb_binary, start_ferretdb, stop_ferretdb
from tooling.provision import amqp_reachable, find_program, mongo_reachable

#: Debian's rabbitmq-server in /usr/sbin is a wrapper that re-runs itself as the ``rabbitmq``
#: user (whose HOME holds the shared node's cookie); the real scripts run as anyone.
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
#: A node boots in about 5 s on a quiet machine; a loaded one may take many times that.
RABBITMQ_BOOT_TIMEOUT = 120.0


def _rabbitmq_scripts() -> Path:
    if (RABBITMQ_SCRIPTS / "rabbitmq-server").exists():
        return RABBITMQ_SCRIPTS
    server = find_program("rabbitmq-server")
    if server is None:
        raise RuntimeError("rabbitmq-server is not installed (`delivery-center infra` installs it)")
    return server.parent


@dataclass
class OwnRabbitMQ:
    """One RabbitMQ node, listening on 127.0.0.1 only, with no plugins."""

    node: str
    port: int
    home: Path
    scripts: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        log = (self.home / "server.out").open("ab")
        self.process = subprocess.Popen(
            [self.scripts / "rabbitmq-server"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ctl("await_startup", timeout=RABBITMQ_BOOT_TIMEOUT, retry_until_up=True)

    def ctl(self, *args: str, timeout: float = 60.0, retry_until_up: bool = False) -> None:
        """``rabbitmqctl -n <our node> ...``; with ``retry_until_up``, until the node answers."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited; see {self.home}/log")
            result = subprocess.run(
                [self.scripts / "rabbitmqctl", "-n", self.node, "-q", *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=max(deadline - time.monotonic(), 10.0),
            )
            if result.returncode == 0:
                return
            if not retry_until_up or time.monotonic() > deadline:
                raise RuntimeError(
                    f"rabbitmqctl {' '.join(args)} on {self.node} failed "
                    f"(exit {result.returncode}): {result.stderr or result.stdout}"
                )
            time.sleep(0.5)

    def stop_app(self) -> None:
        """Stop the broker (connections drop, AMQP refused) but keep the Erlang node."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app", timeout=RABBITMQ_BOOT_TIMEOUT)
        deadline = time.monotonic() + RABBITMQ_BOOT_TIMEOUT
        while not amqp_reachable(self.amqp_url, timeout=2.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.node} took start_app but does not answer AMQP")
            time.sleep(0.2)

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.ctl("stop")
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                # Our node's session only: the server script, beam and its port helpers.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def own_rabbitmq() -> Iterator[OwnRabbitMQ]:
    """A fresh RabbitMQ node of the caller's own, stopped and deleted afterwards."""
    home = Path(tempfile.mkdtemp(prefix="dc-rabbitmq-"))
    port = free_port()
    (home / "enabled_plugins").write_text("[].\n")  # no management plugin: no port 15672 clash
    (home / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
    (home / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
    # Erlang reads the cookie from $HOME (ours, below): written before the node and
    # rabbitmqctl start, so that neither makes one up while the other reads it.
    cookie = home / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex.upper())
    cookie.chmod(0o400)
    node = f"dc-test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        # Root on a fresh machine needs no ~/.erlang.cookie, and the shared node's is untouched.
        "HOME": str(home),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(home / "plugins-expand"),
        "RABBITMQ_PID_FILE": str(home / "rabbitmq.pid"),
    }
    broker = OwnRabbitMQ(node, port, home, _rabbitmq_scripts(), env)
    try:
        broker.start()
        yield broker
    finally:
        broker.remove()


@dataclass
class OwnFerretDB:
    binary: Path
    port: int
    home: Path
    process: subprocess.Popen | None = None

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start (again) on the same port and data; returns once it answers a ping."""
        self.process = start_ferretdb(self.binary, "127.0.0.1", self.port, self.home)

    def stop(self) -> None:
        """SIGTERM, and wait until it is gone and no longer answers."""
        if self.process is None:
            return
        stop_ferretdb(self.process.pid)
        self.process.wait()
        self.process = None
        assert not mongo_reachable(self.mongo_url, timeout_ms=200)


@contextlib.contextmanager
def own_ferretdb() -> Iterator[OwnFerretDB]:
    """A FerretDB of the caller's own (the project's current build) on a free port."""
    home = Path(tempfile.mkdtemp(prefix="dc-ferretdb-"))
    server = OwnFerretDB(ferretdb_binary(Settings().state_dir), free_port(), home)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
