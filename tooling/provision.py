"""Make RabbitMQ and a MongoDB-protocol server reachable on this machine (FerretDB in ``ferretdb``).

Each ``ensure_*`` first checks whether the configured server already answers and then does
nothing; only when it does not, and only for a loopback address, does it install, build or
start what is missing. A fresh Debian machine (as root) ends up with a running broker and
database; a developer's machine with both already running is left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from shared.config import Settings, amqp_urls

console = Console(stderr=True, highlight=False, soft_wrap=True)

RABBITMQ_TIMEOUT = 90.0


class ProvisionError(RuntimeError):
    """Infrastructure could not be made reachable; the message says what and where to look."""


# --- addresses -------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for addresses that can only mean this machine (we never provision anything else)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def amqp_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of an AMQP URI; the port defaults to 5672, or 5671 for ``amqps``
    (RabbitMQ's URI spec)."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return parts.hostname or "localhost", parts.port or default


def mongo_address(url: str) -> tuple[str, int]:
    """The first host of a ``mongodb://`` URL (a replica-set list is never provisioned)."""
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    first = netloc.split(",")[0]
    parts = urlsplit(f"//{first}")
    return parts.hostname or "localhost", parts.port or 27017


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection to ``host:port`` succeeds within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


#: Where :func:`free_port` hands out ports: below Linux's default ephemeral range
#: (``net.ipv4.ip_local_port_range``, 32768-60999), from which the kernel takes the ports of
#: outgoing connections and of ``bind(("", 0))``; above the fixed ports our servers use
#: (RabbitMQ's 25672, MongoDB's 27017).
PORT_BAND = range(28000, 32000)
#: The last port handed out on this machine, shared by every process (pytest-xdist workers).
PORT_COUNTER = Path(tempfile.gettempdir()) / "delivery-center-last-port"


def free_port() -> int:
    """A local TCP port for a server about to start: the next port of :data:`PORT_BAND` that
    nothing listens on, after the last one any process on this machine was handed.

    The kernel's ``bind(0)`` may give one port to two callers a moment apart (the port is
    free again once the probe closes), so two servers started together could race for it;
    a machine-wide counter under a file lock (``flock``) hands each port out once per pass
    through the band.

    Raises:
      OSError: No port of the band is free, or the counter's file cannot be written.
    """
    with open(PORT_COUNTER, "a+", encoding="ascii") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)  # released when the file closes
        counter.seek(0)
        text = counter.read().strip()
        last = int(text) if text.isdigit() else PORT_BAND.start - 1
        for step in range(1, len(PORT_BAND) + 1):
            port = PORT_BAND.start + (last + step - PORT_BAND.start) % len(PORT_BAND)
            if _bindable(port):
                counter.seek(0)
                counter.truncate()
                counter.write(str(port))
                return port
    raise OSError(f"no free TCP port in {PORT_BAND.start}-{PORT_BAND.stop - 1}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# --- probes ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Failed probes are expected; keep the client library from logging tracebacks for them."""
    logger = logging.getLogger(logger_name)
    previous = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(previous)


def amqp_reachable(url: str, timeout: float = 3.0) -> bool:
    """True if a broker at one of ``url``'s URIs (``DC_AMQP_URL``: one, or several comma-
    separated, tried in order) accepts an AMQP connection within ``timeout`` seconds each.

    Raises:
      ProvisionError: A broker answers but refuses the login or virtual host: starting
        one would not help.
    """
    return any(_amqp_node_reachable(one, timeout) for one in amqp_urls(url))


def _amqp_node_reachable(url: str, timeout: float) -> bool:
    """:func:`amqp_reachable` for one URI."""
    import pika
    import pika.exceptions

    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.retry_delay = 0
    params.socket_timeout = timeout
    params.stack_timeout = timeout
    params.blocked_connection_timeout = timeout
    refused = (
        pika.exceptions.ProbableAuthenticationError,
        pika.exceptions.ProbableAccessDeniedError,
        pika.exceptions.AuthenticationError,
        pika.exceptions.ConnectionClosedByBroker,
    )
    with _quiet("pika"):
        try:
            connection = pika.BlockingConnection(params)
        except refused as error:
            # A broker answers but says no: starting one would not help, waiting neither.
            host, port = amqp_address(url)
            raise ProvisionError(
                f"RabbitMQ at {host}:{port} refused the login or virtual host of DC_AMQP_URL: "
                f"{error!r}"
            ) from error
        except (pika.exceptions.AMQPError, OSError):
            return False
        with contextlib.suppress(Exception):
            connection.close()
    return True


def mongo_reachable(url: str, timeout_ms: int = 1500) -> bool:
    """True if the server at ``url`` answers ``ping`` within ``timeout_ms`` milliseconds."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient = MongoClient(
        url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def wait_until(
    what: str,
    probe: Callable[[], bool],
    timeout: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    hint: str = "",
) -> float:
    """Poll ``probe`` until it answers; fail early if ``alive`` says the server process died."""
    started = time.monotonic()
    with console.status(f"waiting for {what} ..."):
        while not probe():
            elapsed = time.monotonic() - started
            if not alive():
                raise ProvisionError(f"{what} exited while starting. {hint}".strip())
            if elapsed > timeout:
                raise ProvisionError(
                    f"{what} did not answer within {timeout:.0f} s. {hint}".strip()
                )
            time.sleep(0.5)
    took = time.monotonic() - started
    console.print(f"waiting for {what} ... ok ({took:.1f} s)")
    return took


# --- commands --------------------------------------------------------------------------------


def run(
    command: Sequence[str | os.PathLike[str]],
    what: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = 1800,
    log: Path | None = None,
) -> str:
    """Run a command quietly (its output only shown if it fails) and return its stdout.

    With ``log`` the output goes to that file instead of a pipe: a daemon that keeps the
    pipe open would otherwise make us wait for it until the timeout.
    """
    console.print(f"{what} ...")
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(log.open("w+")) if log is not None else subprocess.PIPE
        try:
            result = subprocess.run(
                [os.fspath(part) for part in command],
                env=None if env is None else {**os.environ, **env},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT if log is not None else subprocess.PIPE,
                text=True,
                timeout=timeout,
            )
        except FileNotFoundError as error:
            raise ProvisionError(f"{what} failed: {error}") from error
        except subprocess.TimeoutExpired as error:
            raise ProvisionError(f"{what} did not finish within {timeout:.0f} s") from error
        output = log.read_text() if log is not None else result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise ProvisionError(f"{what} failed (exit {result.returncode}):\n{tail}")
    console.print(f"{what} ... ok ({time.monotonic() - started:.1f} s)")
    return result.stdout or ""


_apt_updated = False


def apt_install(*packages: str) -> None:
    """Install Debian ``packages`` with apt-get (updating the lists once per process).

    Raises:
      ProvisionError: Not root, or apt-get failed (its output's tail in the message).
    """
    if os.geteuid() != 0:
        raise ProvisionError(
            f"{' '.join(packages)} is missing and only root can install it: "
            f"run `apt-get install -y {' '.join(packages)}` as root, or start the server yourself"
        )
    global _apt_updated
    if not _apt_updated:
        run(["apt-get", "update"], "updating the apt package lists")
        _apt_updated = True
    run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        f"installing {' '.join(packages)} with apt-get",
        env={"DEBIAN_FRONTEND": "noninteractive"},
    )


def find_program(name: str, *also: Path) -> Path | None:
    """``name`` on PATH or in /usr/sbin, else the first of ``also`` that exists, else None."""
    # root's PATH has /usr/sbin, a CI job's environment may not.
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found:
        return Path(found)
    return next((path for path in also if path.exists()), None)


def require_program(name: str, package: str, *also: Path) -> Path:
    """``name`` on PATH (or at one of ``also``), installed with apt-get from ``package`` if
    missing; ProvisionError if it is still missing then."""
    found = find_program(name, *also)
    if found is None:
        apt_install(package)
        found = find_program(name, *also)
        if found is None:
            raise ProvisionError(f"{name} is still missing after apt-get install {package}")
    return found


# --- RabbitMQ --------------------------------------------------------------------------------


def ensure_rabbitmq(settings: Settings) -> None:
    """Make ``DC_AMQP_URL`` answer: nothing if it does; else, for a broker on this machine,
    install rabbitmq-server if missing, enable the management plugin and start it.

    Raises:
      ProvisionError: The broker is on another host, refuses the login, cannot be
        installed, or does not answer within ``RABBITMQ_TIMEOUT`` seconds.
    """
    # Only the first node of a list is ever started here; any node answering will do.
    host, port = amqp_address(settings.amqp_urls[0])
    where = f"{host}:{port}"
    if amqp_reachable(settings.amqp_url):
        nodes = ", ".join("{}:{}".format(*amqp_address(url)) for url in settings.amqp_urls)
        console.print(f"RabbitMQ: reachable at {nodes}, nothing to do")
        return
    if not is_loopback(host):
        raise ProvisionError(
            f"RabbitMQ at {where} (DC_AMQP_URL) is unreachable; only a broker on this machine "
            "(127.0.0.1/localhost) is started automatically"
        )
    console.print(f"RabbitMQ: nothing answers at {where}, provisioning it locally")

    server = require_program("rabbitmq-server", "rabbitmq-server")
    sbin = server.parent

    env = {"RABBITMQ_NODE_PORT": str(port)} if port != 5672 else {}
    if _rabbitmq_node_running(sbin):
        # Started but not yet accepting AMQP (or booting): a second start would only fail.
        console.print("RabbitMQ: the node is already running, waiting for it")
    else:
        run(
            [sbin / "rabbitmq-plugins", "enable", "--offline", "rabbitmq_management"],
            "enabling the RabbitMQ management plugin",
            timeout=120,
        )
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        run(
            [server, "-detached"],
            "starting rabbitmq-server -detached",
            env=env,
            timeout=120,
            log=settings.state_dir / "rabbitmq-start.log",
        )

    wait_until(
        f"RabbitMQ at {where}",
        lambda: amqp_reachable(settings.amqp_url),
        RABBITMQ_TIMEOUT,
        hint="See /var/log/rabbitmq/ (startup_err, rabbit@*.log).",
    )


def _rabbitmq_node_running(sbin: Path) -> bool:
    diagnostics = sbin / "rabbitmq-diagnostics"
    if not diagnostics.exists():
        return False
    try:
        result = subprocess.run(
            [diagnostics, "-q", "ping"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


# --- both ------------------------------------------------------------------------------------


def ensure_infrastructure(settings: Settings) -> None:
    """Make both ``DC_AMQP_URL`` and ``DC_MONGO_URL`` answer (see ``ensure_rabbitmq`` and
    ``tooling.ferretdb.ensure_ferretdb``); ProvisionError says what failed."""
    # Imported here: the FerretDB module builds on this one's helpers.
    from tooling.ferretdb import ensure_ferretdb

    for name, ensure in (("RabbitMQ", ensure_rabbitmq), ("MongoDB", ensure_ferretdb)):
        started = time.monotonic()
        ensure(settings)
        console.print(f"{name}: ready ({time.monotonic() - started:.1f} s)", style="dim")
