"""``delivery-center``: start everything, run one service, provision, mint tokens, run the tests."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta
from typing import IO, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from shared.config import Settings, get_settings

app = typer.Typer(
    help="Delivery Center: after-sales delivery of marketplace service products.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

SERVICES = ("gateway", "workflow", "timers", "notifier")
COLORS = {"gateway": "cyan", "workflow": "magenta", "timers": "yellow", "notifier": "green"}
#: How long children get to finish after SIGTERM before they are killed.
STOP_GRACE = 15.0


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", style="bold red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return get_settings()
    except Exception as error:  # a pydantic ValidationError names the bad variable
        fail(f"invalid configuration: {error}")


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

delivery_app = typer.Typer(help="One delivery.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Many deliveries.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: messages that failed for good.", no_args_is_help=True)
deadlines_app = typer.Typer(help="Deadlines the timer worker will fire.", no_args_is_help=True)
app.add_typer(delivery_app, name="delivery")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(dlq_app, name="dlq")
app.add_typer(deadlines_app, name="deadlines")


def _database():
    from pymongo import MongoClient

    settings = load_settings()
    client = MongoClient(settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command("ping")
    except Exception as error:
        fail(f"the database at {settings.mongo_url} is unreachable: {error}")
    return client[settings.mongo_db]


def _when(value: object) -> str:
    """A moment worded as the pages and emails word it (``shared.wording.when``); "-" if none."""
    from datetime import datetime

    from shared.wording import when

    return when(value) if isinstance(value, datetime) else "-"


def _named(field: str, value: object) -> str:
    """A fact of a delivery: a state or process with its name, as pages and emails name it,
    before the value the API and ``--state`` use ("Confirm delivery (awaiting_confirmation)")."""
    from shared.wording import PROCESS_LABELS, STATE_LABELS, label

    table = {"state": STATE_LABELS, "process": PROCESS_LABELS}.get(field)
    if table is None or not isinstance(value, str) or value not in table:
        return str(value)
    return f"{label(table, value)} ({value})"


def shown(value: object) -> Text:
    """A stored value as one table cell: plain text, never read as rich markup (``[/b]`` in a
    dispute's reason is shown, not a tag), and every character that is not printable (ESC,
    NUL, C1 controls, bidi and zero-width controls, line breaks) written as its escape, so text
    a party wrote cannot clear the operator's screen, move the cursor or reorder a line."""
    return Text(
        "".join(
            ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode()
            for ch in str(value)
        )
    )


def add_row(table: Any, *cells: object) -> None:
    """``table.add_row`` with every cell ``shown``."""
    table.add_row(*(shown(cell) for cell in cells))


@delivery_app.command("show")
def delivery_show(delivery_id: str) -> None:
    """A delivery's facts, deadlines and history."""
    from rich.table import Table

    from services.ops.reports import find_delivery

    document = find_delivery(_database(), delivery_id)
    if document is None:
        fail(f"no delivery {delivery_id}")
    facts = Table(show_header=False, title=f"delivery {delivery_id}")
    for field in ("order_id", "product_id", "process", "state", "version", "customer_id", "isv_id"):
        add_row(facts, field, _named(field, document.get(field)))
    if document.get("dispute"):
        add_row(
            facts, "dispute", f"{document['dispute']['status']}: {document['dispute']['reason']}"
        )
    console.print(facts)
    deadlines = Table("kind", "status", "due at", title="deadlines")
    for deadline in document.get("deadlines", []):
        add_row(deadlines, deadline["kind"], deadline["status"], _when(deadline.get("due_at")))
    console.print(deadlines)
    history = Table("at", "command", "by", "from", "to", title="history")
    for entry in document.get("history", []):
        actor = entry["actor"]
        add_row(
            history,
            _when(entry["at"]),
            entry["command"],
            f"{actor['role']} {actor['id']}",
            str(entry.get("from_state") or "-"),
            entry["to_state"],
        )
    console.print(history)
    if document.get("refusals"):
        refused = Table("at", "command", "by", "reason", title="refused commands")
        for entry in document["refusals"]:
            add_row(
                refused,
                _when(entry["at"]),
                entry["command"],
                entry["actor"]["role"],
                entry["message"],
            )
        console.print(refused)


@deliveries_app.command("list")
def deliveries_list(
    state: Annotated[str | None, typer.Option(help="only deliveries in this state")] = None,
    overdue: Annotated[bool, typer.Option(help="only those with a deadline past due")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """Deliveries, newest first."""
    from datetime import UTC, datetime

    from rich.table import Table

    from services.ops.reports import list_deliveries
    from shared.domain.states import State

    if state is not None and state not in {s.value for s in State}:
        fail(f"--state must be one of: {', '.join(s.value for s in State)}")
    found = list_deliveries(
        _database(), state=state, overdue=overdue, now=datetime.now(UTC), limit=limit
    )
    table = Table("delivery", "order", "process", "state", "next deadline", "updated")
    for document in found:
        active = [d for d in document.get("deadlines", []) if d.get("due_at")]
        soonest = min((d["due_at"] for d in active), default=None)
        add_row(
            table,
            document["_id"],
            document["order_id"],
            document["process"],
            document["state"],
            _when(soonest),
            _when(document["updated_at"]),
        )
    console.print(table)
    console.print(f"{len(found)} deliveries", style="dim")


@deadlines_app.command("due")
def deadlines_due(
    within: Annotated[int, typer.Option(help="seconds ahead to look", min=0)] = 3600,
) -> None:
    """Active deadlines that fire within the next hour (or --within seconds), overdue first."""
    from datetime import UTC, datetime, timedelta

    from rich.table import Table

    from services.ops.reports import deadlines_due as due

    found = due(_database(), datetime.now(UTC), timedelta(seconds=within))
    table = Table("due at", "kind", "delivery", "deadline")
    for deadline in found:
        add_row(
            table,
            _when(deadline["due_at"]),
            deadline["kind"],
            deadline["delivery_id"],
            deadline["_id"],
        )
    console.print(table)
    console.print(f"{len(found)} deadlines due within {within} s", style="dim")


@app.command()
def stats() -> None:
    """Deliveries per process and state, and the median time spent in each state."""
    from rich.table import Table

    from services.ops.reports import stats as gather
    from shared.wording import duration

    figures = gather(_database())
    counts = Table("process", "state", "deliveries", title="deliveries")
    for (process, state), count in figures["counts"].items():
        add_row(counts, process, state, str(count))
    console.print(counts)
    medians = Table("state", "median time in it", title="time per stage")
    for state, seconds in figures["median_seconds_in_state"].items():
        add_row(medians, state, duration(timedelta(seconds=seconds)))
    console.print(medians)


@dlq_app.command("list")
def dlq_list() -> None:
    """Every dead letter: its id, queue, what it was, its error, when, and how many tries."""
    from rich.table import Table

    from services.ops.dead_letters import browsing

    with browsing(load_settings().amqp_url, _database()) as (_, letters):
        table = Table("message id", "queue", "message", "error", "dead since", "tries")
        for letter in letters:
            add_row(
                table,
                letter.message_id,
                letter.queue,
                letter.summary,
                letter.error or "(not recorded)",
                _when(letter.dead_since),
                str(letter.tries),
            )
        console.print(table)
        console.print(f"{len(letters)} dead letters", style="dim")


@dlq_app.command("requeue")
def dlq_requeue(
    message_id: Annotated[str | None, typer.Argument(help="the dead letter to requeue")] = None,
    all_: Annotated[bool, typer.Option("--all", help="requeue every dead letter")] = False,
) -> None:
    """Put dead letters back on their queue, retries reset, to be processed again."""
    from rich.progress import track

    from services.ops.dead_letters import browsing, requeue

    if (message_id is None) == (not all_):
        fail("give one message id, or --all")
    with browsing(load_settings().amqp_url, _database()) as (channel, letters):
        chosen = letters if all_ else [d for d in letters if d.message_id == message_id]
        if not chosen:
            fail(f"no dead letter {message_id}")
        # A body that is no dramatiq message has no queue to go back to: it stays, to purge.
        unreadable = [d for d in chosen if not d.is_message]
        chosen = [d for d in chosen if d.is_message]
        for letter in track(chosen, description="requeueing", console=err):
            requeue(channel, letter)
    if unreadable:
        err.print(f"{len(unreadable)} dead letters are not dramatiq messages: left for purge")
    console.print(f"requeued {len(chosen)} dead letters")


@dlq_app.command("purge")
def dlq_purge(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete every dead letter for good."""
    from services.ops.dead_letters import purge

    if not yes and not typer.confirm("Delete every dead letter for good?"):
        fail("nothing purged", code=1)
    console.print(f"purged {purge(load_settings().amqp_url, _database())} dead letters")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
