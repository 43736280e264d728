"""RabbitMQ nodes of our own on this machine: one, or a cluster of several, each in a folder.

Debian's ``rabbitmq-server`` runs several nodes on one host when each has its own node name,
AMQP and distribution ports and data directory, and all share one Erlang cookie (RabbitMQ's
"Clustering Guide", section "A Cluster on a Single Machine"). Nodes here listen on 127.0.0.1
only, run no plugins (no management port to clash over) and never touch the machine's own
node, its cookie or ``/etc/rabbitmq``: tests that stop a node use these, and so does
``delivery-center cluster``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from tooling.provision import amqp_reachable, find_program, free_port

#: Debian's rabbitmq-server in /usr/sbin is a wrapper that re-runs itself as the ``rabbitmq``
#: user (whose HOME holds the shared node's cookie); the real scripts run as anyone.
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
#: Erlang schedulers that sleep when idle instead of spinning for a while first (the VM's
#: default, which keeps idle nodes busy on a machine of few cores).
QUIET_SCHEDULERS = "+sbwt none +sbwtdcpu none +sbwtdio none"
#: Launches of a node that exits while booting before its start is given up.
BOOT_ATTEMPTS = 3
#: A node boots in about 5 s on a quiet machine; a loaded one may take many times that.
RABBITMQ_BOOT_TIMEOUT = 120.0


def rabbitmq_scripts() -> Path:
    """The folder of ``rabbitmq-server``, ``rabbitmqctl`` and ``rabbitmq-queues``.

    Raises:
      RuntimeError: RabbitMQ is not installed (``delivery-center infra`` installs it).
    """
    if (RABBITMQ_SCRIPTS / "rabbitmq-server").exists():
        return RABBITMQ_SCRIPTS
    server = find_program("rabbitmq-server")
    if server is None:
        raise RuntimeError("rabbitmq-server is not installed (`delivery-center infra` installs it)")
    return server.parent


@dataclass
class RabbitNode:
    """One RabbitMQ node: its name (``name@localhost``), AMQP port and folder."""

    node: str
    port: int
    home: Path
    scripts: Path
    env: dict[str, str]
    process: subprocess.Popen | None = field(default=None, repr=False)

    def amqp_url_for(self, vhost: str = "/") -> str:
        """``amqp://guest:guest@127.0.0.1:<port>/<vhost>`` (the virtual host URL-encoded)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{quote(vhost, safe='')}"

    @property
    def amqp_url(self) -> str:
        """The node's URI for the default virtual host ``/``."""
        return self.amqp_url_for("/")

    @property
    def running(self) -> bool:
        """Whether the node's process (started here) is still there."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the node (again, on the same data) and wait until it has booted; a node that
        exits while booting is launched again, up to :data:`BOOT_ATTEMPTS` times.

        Raises:
          RuntimeError: It exited every time, or did not boot in time; the message ends with
            the end of its output (its log is in ``home/log``).
        """
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            self.launch()
            try:
                self.await_startup()
                return
            except RuntimeError as failure:
                # Seen once in CI after a kill -9: the node exited while booting again (its
                # name or ports not yet let go). A moment later it boots.
                if self.running or attempt == BOOT_ATTEMPTS:
                    raise RuntimeError(f"{failure}\n{self._output_tail()}") from failure
                time.sleep(2.0 * attempt)

    def _output_tail(self, lines: int = 30) -> str:
        """The end of what the node's server script wrote, for an error message."""
        try:
            text = (self.home / "server.out").read_text(errors="replace")
        except OSError:
            return "(no server output)"
        return "\n".join(text.splitlines()[-lines:])

    def launch(self) -> None:
        """Start the node's process without waiting for it (see :meth:`await_startup`)."""
        log = (self.home / "server.out").open("ab")
        self.process = subprocess.Popen(
            [self.scripts / "rabbitmq-server"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def await_startup(self) -> None:
        """Until the node has booted (``rabbitmqctl await_startup``), at most
        :data:`RABBITMQ_BOOT_TIMEOUT` s.

        Raises:
          RuntimeError: The node exited, or had not booted in time.
        """
        self.ctl("await_startup", timeout=RABBITMQ_BOOT_TIMEOUT, retry_until_up=True)

    def ctl(self, *args: str, timeout: float = 60.0, retry_until_up: bool = False) -> str:
        """``rabbitmqctl -n <this node> -q ...``; its output.

        Raises:
          RuntimeError: The command failed (after ``timeout`` s of retries with
            ``retry_until_up``), or the node exited meanwhile.
        """
        return self._run("rabbitmqctl", *args, timeout=timeout, retry_until_up=retry_until_up)

    def queues(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmq-queues -n <this node> -q ...``; its output."""
        return self._run("rabbitmq-queues", *args, timeout=timeout)

    def _run(self, tool: str, *args: str, timeout: float, retry_until_up: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited; see {self.home}/log")
            result = subprocess.run(
                [self.scripts / tool, "-n", self.node, "-q", *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=max(deadline - time.monotonic(), 10.0),
            )
            if result.returncode == 0:
                return result.stdout
            if not retry_until_up or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{tool} {' '.join(args)} on {self.node} failed "
                    f"(exit {result.returncode}): {result.stderr or result.stdout}"
                )
            time.sleep(0.5)

    def stop_app(self) -> None:
        """Stop the broker (connections drop, AMQP refused) but keep the Erlang node."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        """Start the broker of a node whose app was stopped; returns once AMQP answers."""
        self.ctl("start_app", timeout=RABBITMQ_BOOT_TIMEOUT)
        deadline = time.monotonic() + RABBITMQ_BOOT_TIMEOUT
        while not amqp_reachable(self.amqp_url, timeout=2.0):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.node} took start_app but does not answer AMQP")
            time.sleep(0.2)

    def kill(self) -> None:
        """``kill -9`` the node (its server script, Erlang VM and port helpers) at once, as a
        machine that dies would; its data stays, and :meth:`start` brings it back."""
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the whole node (``rabbitmqctl stop``), keeping its data: :meth:`start` brings
        it back, into its cluster."""
        if not self.running:
            return
        try:
            self.ctl("stop")
            assert self.process is not None
            self.process.wait(60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill()


def _node(root: Path, name: str, scripts: Path) -> RabbitNode:
    """A node named ``name@localhost`` in ``root/name`` on free ports; the cookie is in
    ``root`` (its HOME, where Erlang and rabbitmqctl read it)."""
    home = root / name
    home.mkdir()
    port = free_port()
    (home / "enabled_plugins").write_text("[].\n")
    (home / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
    (home / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
    env = {
        **os.environ,
        # Root on a fresh machine needs no ~/.erlang.cookie, and the shared node's is untouched.
        "HOME": str(root),
        "RABBITMQ_NODENAME": f"{name}@localhost",
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
        # Schedulers that sleep when idle rather than spin, one per node: several nodes share
        # this machine's cores with the services and the tests.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": QUIET_SCHEDULERS + " +S 1:1",
    }
    return RabbitNode(f"{name}@localhost", port, home, scripts, env)


def _cluster_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="dc-rabbitmq-"))
    # Written before any node or rabbitmqctl starts, so that none makes one up while another
    # reads it.
    cookie = root / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex.upper())
    cookie.chmod(0o400)
    return root


@contextlib.contextmanager
def rabbitmq_cluster(size: int = 3) -> Iterator[list[RabbitNode]]:
    """``size`` fresh RabbitMQ nodes joined in one cluster; stopped and deleted afterwards.

    The nodes boot at once; every node after the first then joins the first
    (``rabbitmqctl stop_app``, ``join_cluster``, ``start_app``). A node stopped with
    :meth:`RabbitNode.stop` and started again rejoins by itself.

    Raises:
      RuntimeError: A node did not boot or join (its log is in its folder's ``log``).
    """
    if size < 1:
        raise ValueError(f"a cluster has at least one node, not {size}")
    root = _cluster_root()
    scripts = rabbitmq_scripts()
    prefix = f"dc-{uuid.uuid4().hex[:6]}"
    nodes = [_node(root, f"{prefix}-{n}", scripts) for n in range(1, size + 1)]
    try:
        for node in nodes:
            node.launch()
        for node in nodes:
            node.await_startup()
        for node in nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", nodes[0].node)
            node.start_app()
        yield nodes
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def own_rabbitmq() -> Iterator[RabbitNode]:
    """A fresh RabbitMQ node of the caller's own, stopped and deleted afterwards."""
    with rabbitmq_cluster(1) as [node]:
        yield node


def cluster_amqp_url(nodes: list[RabbitNode], vhost: str = "/", first: int = 0) -> str:
    """``DC_AMQP_URL`` for a cluster: every node's URI, comma-separated, starting at node
    ``first`` (a process connects to the first that answers, so different firsts spread
    processes over the nodes)."""
    order = nodes[first:] + nodes[:first]
    return ",".join(node.amqp_url_for(vhost) for node in order)


def quorum_leader(nodes: list[RabbitNode], queue: str, vhost: str = "/") -> RabbitNode:
    """The node that leads quorum queue ``queue`` now, as a running node of ``nodes`` reports
    it (``rabbitmqctl list_queues name leader``).

    Raises:
      LookupError: No such quorum queue, or its leader is none of ``nodes``.
    """
    asker = next(node for node in nodes if node.running)
    listed = json.loads(
        asker.ctl("list_queues", "-p", vhost, "name", "type", "leader", "--formatter", "json")
    )
    for row in listed:
        if row["name"] == queue and row["type"] == "quorum":
            for node in nodes:
                if node.node == row["leader"]:
                    return node
            raise LookupError(f"{queue} is led by {row['leader']}, none of our nodes")
    raise LookupError(f"no quorum queue {queue} in virtual host {vhost}")
