"""The operators' commands of ``delivery-center``: a delivery, lists of deliveries, deadlines
due, figures, ISVs' scorecards, dead letters, signed links to the pages. Every cell they print
is text a party may have written, so it is shown as text (``shown``), never as markup or
terminal control sequences."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.text import Text

from services.ops.terminal import console, err, fail, load_settings
from services.runtime.links import LINK_ROLES

delivery_app = typer.Typer(help="One delivery.", no_args_is_help=True)
deliveries_app = typer.Typer(help="Many deliveries.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: messages that failed for good.", no_args_is_help=True)
deadlines_app = typer.Typer(help="Deadlines the timer worker will fire.", no_args_is_help=True)
link_app = typer.Typer(help="Signed links to the pages, for people.", no_args_is_help=True)
scorecard_app = typer.Typer(
    help="ISVs' delivery scores: one ISV's scorecard (--isv), or the table of every ISV by "
    "score, computed now from the read model; `scorecard rebuild` files every delivery's "
    "facts again.",
)


def _database():
    from services.runtime.collections import make_sync_mongo

    settings = load_settings()
    client = make_sync_mongo(settings)
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
    from shared.wording import PROCESS_LABELS, STATE_LABELS, named

    table = {"state": STATE_LABELS, "process": PROCESS_LABELS}.get(field)
    return str(value) if table is None else named(table, value)


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


def _scorecard_period(from_: list[str] | None, to: list[str] | None):
    """The period ``--from``/``--to`` ask for (each given at most once), or :func:`fail`
    saying why not."""
    from datetime import UTC, datetime

    from services.ops.scorecards import option_period
    from shared.domain.scorecard import PeriodProblem

    try:
        return option_period(from_ or [], to or [], datetime.now(UTC).date())
    except PeriodProblem as problem:
        fail(problem.message)


def _print_card(card: Any, period: Any, patience: timedelta) -> None:
    """One ISV's scorecard as tables: the score by component, the figures, the times, in the
    pages' words (``shared.wording``)."""
    from rich.table import Table

    from shared.wording import (
        COMPONENT_LABELS,
        FIGURE_LABELS,
        days_words,
        duration,
        points_words,
        ratio_words,
        score_words,
        share_words,
        trend_words,
    )

    figures = card.figures
    console.print(
        f"ISV {card.isv_id}: deliveries opened {period.first} to {period.last} "
        f"({days_words(period.days)}); patience {duration(patience)}",
        markup=False,
    )
    score = Table("component", "rewards", "value", "points", title="score")
    for part in card.score.components:
        add_row(
            score,
            COMPONENT_LABELS[part.name],
            part.rewards,
            share_words(part.value),
            points_words(part.points, part.max_points),
        )
    add_row(score, "total", "", "", score_words(card.score.total))
    console.print(score)
    trend = trend_words(card.score.total, card.previous_score)
    console.print(
        f"previous period: {score_words(card.previous_score)}; trend: {trend.mark or '-'}",
        markup=False,
    )
    facts = Table("figure", "count", "share or rate", title="figures")
    open_states = ", ".join(f"{state} {n}" for state, n in figures.open_by_state.items())
    for field, count, share in (
        ("opened", figures.opened, ""),
        ("completed", figures.completed, ""),
        ("terminated", figures.terminated, ""),
        ("open_by_state", open_states or "0", ""),
        (
            "confirmed_by_customer",
            figures.confirmed_by_customer,
            share_words(figures.customer_confirmation_share),
        ),
        ("confirmed_automatically", figures.confirmed_automatically, ""),
        (
            "revision_rounds",
            figures.revision_rounds,
            ratio_words(figures.revision_rounds_per_delivery),
        ),
        (
            "warranty_requests",
            f"{figures.warranty_requests} of {figures.completed_warranty_deliveries}",
            ratio_words(figures.warranty_requests_per_warranty_delivery),
        ),
        ("disputed", figures.disputed, share_words(figures.dispute_rate)),
        ("terminated_after_dispute", figures.terminated_after_dispute, ""),
        ("overdue", figures.overdue, share_words(figures.overdue_share)),
    ):
        add_row(facts, FIGURE_LABELS[field], count, share)
    console.print(facts)
    times = Table("ISV's state or stepwise stage", "deliveries", "median", "p90", title="times")
    for kind, spreads in (("state", figures.time_in_state), ("stage", figures.time_in_stage)):
        for name, spread in spreads.items():
            add_row(
                times,
                f"{kind} {name}",
                spread.count,
                duration(timedelta(seconds=spread.median_seconds)),
                duration(timedelta(seconds=spread.p90_seconds)),
            )
    console.print(times)


@scorecard_app.callback(invoke_without_command=True)
def scorecard(
    context: typer.Context,
    isv: Annotated[str | None, typer.Option(help="this ISV's scorecard; else every ISV's")] = None,
    # Lists, so that an option given twice is refused (typer would keep the last one).
    from_: Annotated[
        list[str] | None,
        typer.Option(
            "--from",
            metavar="DAY",
            help="first UTC day, YYYY-MM-DD, once (default: 90 days to --to)",
        ),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option(metavar="DAY", help="last UTC day, YYYY-MM-DD, once (default: today)"),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print JSON (the API's shape)")] = False,
) -> None:
    """One ISV's scorecard, or every ISV by score with its trend (computed now)."""
    if context.invoked_subcommand is not None:
        return
    import json
    from datetime import UTC, datetime

    from services.ops.scorecards import (
        card_json,
        fresh_table,
        isv_scorecard,
        option_isv,
        table_json,
    )

    if isv is not None:
        try:
            isv = option_isv(isv)
        except ValueError as refusal:
            fail(str(refusal))
    period = _scorecard_period(from_, to)
    settings = load_settings()
    now = datetime.now(UTC)
    patience = settings.confirm_window
    try:
        if isv is not None:
            card = isv_scorecard(settings, isv, period, now)
        else:
            table = fresh_table(settings, period, now)
    except Exception as error:  # the database: one line, no traceback
        fail(f"the database at {settings.mongo_url} failed: {error}")
    if isv is not None:
        if json_:
            typer.echo(json.dumps(card_json(card, period, now, patience), indent=2))
        else:
            _print_card(card, period, patience)
        return
    if json_:
        typer.echo(json.dumps(table_json(table, period, patience), indent=2))
        return
    _print_ranking(table["rows"], period)


#: The ranking's headings (short, so that the table reads at 80 columns; :data:`RANKING_KEY`
#: says the abbreviated ones in full) and the column of the ISV's id, which folds.
RANKING_HEADINGS = (
    "#",
    "ISV",
    "score",
    "prev.",
    "trend",
    "opened",
    "compl.",
    "term.",
    "cust.",
    "disp.",
    "overdue",
)
RANKING_ISV_COLUMN = 1
#: Each abbreviated heading and the figure it stands for (``shared.wording.FIGURE_LABELS``).
RANKING_KEY = (
    ("prev.", "previous_score"),
    ("compl.", "completed"),
    ("term.", "terminated"),
    ("cust.", "customer_confirmation_share"),
    ("disp.", "dispute_rate"),
    ("overdue", "overdue_share"),
)


def ranking_table(cells: list[list[str]], title: str, width: int) -> Any:
    """The ranking as a rich table that fits ``width`` columns without cutting a word: the
    ISV's id folds onto more lines; every other column is as wide as its widest cell when
    that leaves the id 12 columns (or its whole width), else as wide as its longest word, its
    cells wrapping between words ("no score" on two lines). Headings are never cut ("prev…")."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    columns = list(zip(RANKING_HEADINGS, *cells, strict=True)) if cells else []
    columns = columns or [(heading,) for heading in RANKING_HEADINGS]
    widest = [max(cell_len(text) for text in column) for column in columns]
    longest_word = [
        max(cell_len(word) for text in column for word in text.split() or [""])
        for column in columns
    ]
    others = [i for i in range(len(columns)) if i != RANKING_ISV_COLUMN]
    gaps = 2 * (len(columns) - 1)
    room = width - gaps - sum(widest[i] for i in others)
    compact = room < min(widest[RANKING_ISV_COLUMN], 12)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for index, heading in enumerate(RANKING_HEADINGS):
        if index == RANKING_ISV_COLUMN:
            table.add_column(heading, overflow="fold")
        elif compact:
            table.add_column(heading, justify="right", width=longest_word[index])
        else:
            table.add_column(heading, justify="right", no_wrap=True)
    for row in cells:
        add_row(table, *row)
    return table


def _print_ranking(rows: list[dict[str, Any]], period: Any) -> None:
    """Every ISV of the table, best score first, as :func:`ranking_table`, with the key to
    its headings and the count."""
    from shared.wording import (
        FIGURE_LABELS,
        counted,
        days_words,
        score_words,
        share_words,
        trend_words,
    )

    cells = [
        [
            str(rank),
            shown(row["isv_id"]).plain,
            score_words(row["score"]),
            score_words(row["previous_score"]),
            trend_words(row["score"], row["previous_score"]).mark or "-",
            str(row["opened"]),
            str(row["completed"]),
            str(row["terminated"]),
            share_words(row["customer_confirmation_share"]),
            share_words(row["dispute_rate"]),
            share_words(row["overdue_share"]),
        ]
        for rank, row in enumerate(rows, start=1)
    ]
    title = (
        f"ISVs by delivery score: deliveries opened {period.first} to {period.last} "
        f"({days_words(period.days)})"
    )
    console.print(ranking_table(cells, title, console.width))
    labels = {**FIGURE_LABELS, "previous_score": "the previous period's score"}
    key = "; ".join(
        f"{short}: {labels[name][:1].lower()}{labels[name][1:]}" for short, name in RANKING_KEY
    )
    console.print(f"{key}.", style="dim", markup=False)
    console.print(counted(len(rows), "ISV", "ISVs"), style="dim", markup=False)


@scorecard_app.command("rebuild")
def scorecard_rebuild() -> None:
    """File every delivery's scorecard facts again from its stored history, then refresh the
    table (after deliveries stored before the scorecard existed, or a change of formula)."""
    from services.ops.scorecards import rebuild
    from shared.wording import counted

    settings = load_settings()

    def progress(count: int) -> None:
        console.print(f"{count:,} deliveries", style="dim")

    try:
        count, table = rebuild(settings, progress)
    except Exception as error:  # the database: one line, no traceback
        fail(f"the database at {settings.mongo_url} failed: {error}")
    deliveries = counted(count, "delivery", "deliveries", grouped=True)
    isvs = counted(len(table["rows"]), "ISV", "ISVs")
    console.print(f"rebuilt the facts of {deliveries}; {isvs} scored", markup=False)


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


def _link_settings():
    """The ``DC_`` settings read now (a link is signed with the environment's secret and URL),
    or :func:`fail` naming the invalid variable. Not ``terminal.load_settings``: its read is
    cached for the process, and ``link_main`` runs in processes that change the environment
    between runs (tests/unit/test_links.py)."""
    from shared.config import Settings

    try:
        return Settings()
    except Exception as error:  # a pydantic ValidationError names the bad variable
        fail(f"invalid configuration: {error}")


@link_app.command("admin")
def link_admin() -> None:
    """Print an admin's link to /admin (it opens every delivery's page too)."""
    from services.runtime.links import admin_url

    typer.echo(admin_url(_link_settings()))


@link_app.command("delivery")
def link_delivery(
    delivery_id: str,
    party_id: str,
    role: Annotated[str, typer.Argument(help=f"one of {', '.join(sorted(LINK_ROLES))}")],
    action: Annotated[str | None, typer.Argument(help="a command whose form opens ready")] = None,
) -> None:
    """Print a party's link to a delivery's page; opening it never performs the action."""
    from services.runtime.links import page_url

    try:
        typer.echo(page_url(_link_settings(), delivery_id, party_id, role, action))
    except ValueError as error:
        fail(str(error))


@link_app.command("me")
def link_me(
    party_id: str,
    role: Annotated[str, typer.Argument(help=f"one of {', '.join(sorted(LINK_ROLES))}")],
) -> None:
    """Print a party's link to their own list of deliveries (/me); an admin's is /admin."""
    from services.runtime.links import list_url

    try:
        typer.echo(list_url(_link_settings(), party_id, role))
    except ValueError as error:
        fail(str(error))


def link_main(argv: list[str]) -> int:
    """``delivery-center link`` run with ``argv`` (``["admin"]``, ``["delivery", id, party,
    role[, action]]`` or ``["me", party, role]``): 0 once the link is printed, 2 with the
    usage on stderr for other arguments, 1 for ids or a role no link can be signed for."""
    command = typer.main.get_command(link_app)
    try:
        command.main(argv, prog_name="delivery-center link", standalone_mode=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0


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
