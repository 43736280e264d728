"""The development checkout's commands of ``delivery-center``: ``up`` (provision, catch mail,
run the four services), ``infra`` (only provision), ``cluster`` (a local RabbitMQ cluster),
``token`` (a development JWT) and ``test`` (provision, then pytest).

They reach ``delivery-center`` through the ``delivery_center.commands`` entry point
(``register``); the Docker image has no ``tooling`` and so none of them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from typing import IO, Annotated

import typer
from rich.text import Text

from services.cli import SERVICES
from services.gateway.auth import MAX_TOKEN_LIFETIME, TOKEN_ROLES, mint_token
from services.ops.terminal import console, err, fail, load_settings
from shared.config import Settings, redacted_amqp_url
from shared.domain.roles import actor_id_problem
from shared.durations import DurationError, format_duration, parse_duration
from tooling.mailsink import MailSink
from tooling.provision import ProvisionError, ensure_infrastructure, is_loopback, port_open
from tooling.rabbitmq_nodes import cluster_amqp_url, rabbitmq_cluster

COLORS = {"gateway": "cyan", "workflow": "magenta", "timers": "yellow", "notifier": "green"}
#: How long children get to finish after SIGTERM before they are killed.
STOP_GRACE = 15.0


def provision(settings: Settings) -> None:
    """Make RabbitMQ and the MongoDB-protocol server of ``settings`` reachable, or :func:`fail`
    with the reason (``tooling.provision.ensure_infrastructure``)."""
    try:
        ensure_infrastructure(settings)
    except ProvisionError as error:
        fail(str(error))


# --- up ---------------------------------------------------------------------------------


def up() -> None:
    """Provision RabbitMQ and MongoDB (FerretDB), catch mail, and run the four services."""
    settings = load_settings()
    provision(settings)

    sink: MailSink | None = None
    if port_open(settings.smtp_host, settings.smtp_port):
        mail_note = f"sent to the SMTP server at {settings.smtp_host}:{settings.smtp_port}"
    elif is_loopback(settings.smtp_host):
        maildir = settings.state_dir / "mail"
        sink = MailSink(settings.smtp_host, settings.smtp_port, maildir=maildir).start()
        mail_note = (
            f"caught at {settings.smtp_host}:{settings.smtp_port}, saved as .eml in {maildir}"
        )
    else:
        fail(f"the SMTP server at {settings.smtp_host}:{settings.smtp_port} is unreachable")

    try:
        code = _supervise(settings, mail_note)
    finally:
        if sink is not None:
            sink.stop()
    raise typer.Exit(code)


def _supervise(settings: Settings, mail_note: str) -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    pumps = []
    for name in SERVICES:
        # Own session: a terminal's Ctrl-C reaches only us, and we stop the children in order.
        child = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        children[name] = child
        assert child.stdout is not None
        pump = threading.Thread(target=_pump, args=(name, child.stdout), daemon=True)
        pump.start()
        pumps.append(pump)

    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::", "") else settings.http_host
    gateway = f"http://{host}:{settings.http_port}"
    console.print()
    console.print(f"  gateway           {gateway}  (OpenAPI: {gateway}/openapi.json)")
    console.print("  RabbitMQ console  http://127.0.0.1:15672  (guest / guest)")
    console.print(f"  mail              {mail_note}")
    console.print("  Ctrl-C stops everything.")
    console.print()

    failed: str | None = None
    ready = False
    started = time.monotonic()
    while not stopping.is_set():
        for name, child in children.items():
            if child.poll() is not None:
                failed = name
                break
        if failed:
            break
        if not ready and time.monotonic() - started < 120:
            ready = _healthy(f"{gateway}/healthz")
            if ready:
                console.print(f"gateway is answering at {gateway}", style="bold")
        stopping.wait(0.5)

    if failed:
        code = children[failed].returncode
        err.print(
            f"error: {failed} exited unexpectedly (code {code}); stopping the others",
            style="bold red",
        )
    else:
        console.print("stopping the services ...")
    _stop(children)
    for pump in pumps:
        pump.join(timeout=2)
    return 1 if failed else 0


def _pump(name: str, stream: IO[bytes]) -> None:
    prefix = Text(f"{name:>8} | ", style=COLORS[name])
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\n")
        console.print(prefix + Text(line), soft_wrap=True)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            err.print(f"{name} did not stop within {STOP_GRACE:.0f} s; killing it")
            child.kill()
            child.wait()


# --- infra, token, test ----------------------------------------------------------------------


def infra() -> None:
    """Only provision: make RabbitMQ and MongoDB (FerretDB) reachable, then say where."""
    settings = load_settings()
    provision(settings)
    console.print(f"AMQP     {', '.join(map(redacted_amqp_url, settings.amqp_urls))}")
    console.print(f"MongoDB  {settings.mongo_url} (database {settings.mongo_db})")
    console.print("RabbitMQ console  http://127.0.0.1:15672 (guest / guest)")


def cluster(
    nodes: Annotated[int, typer.Option(min=1, max=7, help="how many RabbitMQ nodes")] = 3,
) -> None:
    """Run a RabbitMQ cluster of NODES nodes on this machine until Ctrl-C, for trying
    Delivery Center on a cluster; prints the settings that point the services at it.

    The nodes are fresh and temporary (tooling.rabbitmq_nodes): their data is deleted when
    they stop. The machine's own RabbitMQ is untouched.
    """
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    console.print(f"starting {nodes} RabbitMQ nodes and joining them ...")
    try:
        with rabbitmq_cluster(nodes) as started:
            console.print(f"cluster of {', '.join(node.node for node in started)}")
            for node in started:
                console.print(f"  {node.node}  AMQP 127.0.0.1:{node.port}  data {node.home}")
            console.print("Point the services at it (each connects to the first that answers):")
            print(f"export DC_AMQP_URL={cluster_amqp_url(started)}", flush=True)
            print("export DC_QUEUE_TYPE=quorum", flush=True)
            first = started[0]
            console.print(
                "Which node leads dc.commands (HOME holds the cluster's Erlang cookie):\n"
                f"  HOME={first.home.parent} {first.scripts}/rabbitmq-queues -n {first.node} "
                "quorum_status dc.commands"
            )
            console.print("Ctrl-C stops the nodes and deletes their data.")
            with contextlib.suppress(KeyboardInterrupt):
                stopping.wait()
            console.print("stopping the nodes ...")
    except RuntimeError as error:
        fail(str(error))


def token(
    role: Annotated[str, typer.Option(help=f"one of {', '.join(sorted(TOKEN_ROLES))}")],
    sub: Annotated[str, typer.Option(help="the party's id (the token's sub claim)")],
    ttl: Annotated[
        str,
        typer.Option(
            help="lifetime: whole seconds or ISO 8601 (PT12H, P7D), at most "
            + format_duration(MAX_TOKEN_LIFETIME)
        ),
    ] = "PT12H",
) -> None:
    """Print a development JWT signed with DC_JWT_SECRET."""
    try:
        lifetime = parse_duration(ttl, at_most=MAX_TOKEN_LIFETIME)
    except DurationError as error:
        fail(f"--ttl {ttl!r}: {error}")
    problem = actor_id_problem(sub)
    if problem is not None:  # the gateway would refuse the token
        fail(f"--sub {sub!r}: {problem}")
    try:
        value = mint_token(load_settings().jwt_secret, sub=sub, role=role, ttl=lifetime)
    except ValueError as error:
        fail(f"--role {role!r}: {error}")
    print(value)


def test(ctx: typer.Context) -> None:
    """Provision the infrastructure, then run pytest (extra arguments go to pytest).

    The suite runs in ``TEST_WORKERS`` processes (pytest-xdist), one test file per worker
    at a time; ``-n 0`` runs it in this one.
    """
    provision(load_settings())
    command = [sys.executable, "-m", "pytest", *_parallel(ctx.args), *ctx.args]
    err.print(f"running {' '.join(command[1:])}", style="dim")
    code = subprocess.call(command)
    if code == 5:
        fail("pytest collected no tests (exit 5): nothing was tested")
    raise typer.Exit(code)


#: Much of an integration test is waiting for the system under test (a deadline, a restart,
#: a broker node booting); more workers fill that time. Measured on 2 cores: two workers are
#: about a quarter faster than one process, and a third took the whole suite from 5:04 to
#: 4:25 (the CPU was busy about 1.2 of 2 cores with two). Each worker starts its own systems.
TEST_WORKERS = 3


def _parallel(args: list[str]) -> list[str]:
    """pytest-xdist options, unless the caller chose a number of workers."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) for a in args):
        return []
    # loadfile: a module's tests share a module-scoped system, so they stay on one worker.
    # In the collection's order (long files first: tests/conftest.py), not xdist's by size.
    return ["-n", str(TEST_WORKERS), "--dist", "loadfile", "--no-loadscope-reorder"]


def register(app: typer.Typer) -> None:
    """Add ``up`` (and its alias ``run``), ``infra``, ``cluster``, ``token`` and ``test``
    to ``app``."""
    app.command()(up)
    app.command("run", help="Same as `up`.")(up)
    app.command()(infra)
    app.command()(cluster)
    app.command()(token)
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(test)


#: These commands alone, e.g. for tests: ``CliRunner().invoke(app, ["token", ...])``.
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register(app)
