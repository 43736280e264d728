"""The operators' commands of ``delivery-center`` and their wiring: a delivery, lists of
deliveries, deadlines due, figures, and ``register_operations``, which adds these and the
``scorecard`` (``scorecard_commands``), ``dlq`` (``dlq_commands``) and ``link``
(``link_commands``) commands to the app. Every cell they print is shown as text
(``cells.shown``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from services.ops.cells import _database, _named, _when, add_row
from services.ops.dlq_commands import dlq_app
from services.ops.link_commands import link_app
from services.ops.scorecard_commands import scorecard_app
from services.ops.terminal import console, fail

delivery_app = typer.Typer(help="One delivery.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Many deliveries.", no_args_is_help=True)
deadlines_app = typer.Typer(help="Deadlines the timer worker will fire.", no_args_is_help=True)


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


def register_operations(app: typer.Typer) -> None:
    """Add the operators' commands to ``app``: ``delivery``, ``deliveries``, ``deadlines``,
    ``dlq``, ``link``, ``scorecard`` (and ``scorecard rebuild``) and ``stats``."""
    app.add_typer(delivery_app, name="delivery")
    app.add_typer(link_app, name="link")
    app.add_typer(deliveries_app, name="deliveries")
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(deadlines_app, name="deadlines")
    app.add_typer(scorecard_app, name="scorecard")
    app.command()(stats)
