"""``delivery-center``: start everything, run one service, provision, mint tokens, run the tests;
the operators' commands (a delivery, lists, deadlines, figures, dead letters) are
``services.ops.commands``."""

from __future__ import annotations

import importlib
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

from services.ops.commands import register_operations
from services.ops.terminal import console, err, fail, load_settings
from shared.config import Settings

app = typer.Typer(
    help="Delivery Center: after-sales delivery of marketplace service products.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
SERVICES = ("gateway", "workflow", "timers", "notifier")
COLORS = {"gateway": "cyan", "workflow": "magenta", "timers": "yellow", "notifier": "green"}
#: How long children get to finish after SIGTERM before they are killed.
STOP_GRACE = 15.0


def provision(settings: Settings) -> None:
    from services.infra.provision import ProvisionError, ensure_infrastructure

    try:
        ensure_infrastructure(settings)
    except ProvisionError as error:
        fail(str(error))


# --- up ------------------------------------------------------------------------------------


@app.command()
def up() -> None:
    """Provision RabbitMQ and MongoDB (FerretDB), catch mail, and run the four services."""
    from services.infra.mailsink import MailSink
    from services.infra.provision import is_loopback, port_open

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


app.command("run", help="Same as `up`.")(up)


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


# --- one service in the foreground ---------------------------------------------------------


def _run_service(name: str) -> None:
    module = importlib.import_module(f"services.{name}.main")
    module.main()


@app.command()
def gateway() -> None:
    """Run the HTTP gateway in the foreground."""
    _run_service("gateway")


@app.command()
def workflow() -> None:
    """Run the workflow worker in the foreground."""
    _run_service("workflow")


@app.command()
def timers() -> None:
    """Run the timer worker in the foreground."""
    _run_service("timers")


@app.command()
def notifier() -> None:
    """Run the email notifier in the foreground."""
    _run_service("notifier")


# --- infra, token, test --------------------------------------------------------------------


@app.command()
def infra() -> None:
    """Only provision: make RabbitMQ and MongoDB (FerretDB) reachable, then say where."""
    settings = load_settings()
    provision(settings)
    console.print(f"AMQP     {settings.amqp_url}")
    console.print(f"MongoDB  {settings.mongo_url} (database {settings.mongo_db})")
    console.print("RabbitMQ console  http://127.0.0.1:15672 (guest / guest)")


@app.command()
def token(
    role: Annotated[str, typer.Option(help="marketplace, customer, isv or admin")],
    sub: Annotated[str, typer.Option(help="the party's id (the token's `sub` claim)")],
    ttl: Annotated[
        str,
        typer.Option(help="lifetime: whole seconds or ISO 8601 (PT12H, P7D), at most P30D"),
    ] = "PT12H",
) -> None:
    """Print a development JWT signed with DC_JWT_SECRET."""
    from services.gateway.auth import MAX_TOKEN_LIFETIME, mint_token
    from shared.durations import DurationError, parse_duration

    try:
        lifetime = parse_duration(ttl, at_most=MAX_TOKEN_LIFETIME)
    except DurationError as error:
        fail(f"--ttl {ttl!r}: {error}")
    try:
        value = mint_token(load_settings().jwt_secret, sub=sub, role=role, ttl=lifetime)
    except ValueError as error:
        fail(f"--role {role!r}: {error}")
    print(value)


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
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
#: a broker node booting); a second worker fills that time. Measured on 2 cores: about a
#: quarter faster than one process. Each worker starts its own systems.
TEST_WORKERS = 2


def _parallel(args: list[str]) -> list[str]:
    """pytest-xdist options, unless the caller chose a number of workers."""
    if any(a.startswith(("-n", "--numprocesses", "--dist")) for a in args):
        return []
    # loadfile: a module's tests share a module-scoped system, so they stay on one worker.
    return ["-n", str(TEST_WORKERS), "--dist", "loadfile"]


# --- operators ------------------------------------------------------------------------------

register_operations(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
