"""The ``scorecard`` commands: one ISV's scorecard or every ISV's ranking, computed now from
the read model (``scorecard``), and ``scorecard rebuild``, which files every delivery's facts
again."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from services.ops.cells import add_row
from services.ops.ranking import print_ranking
from services.ops.terminal import console, fail, load_settings

scorecard_app = typer.Typer(
    help="ISVs' delivery scores: one ISV's scorecard (--isv), or the table of every ISV by "
    "score, computed now from the read model; `scorecard rebuild` files every delivery's "
    "facts again.",
)


def _scorecard_period(from_: list[str] | None, to: list[str] | None):
    """The period ``--from``/``--to`` ask for (each given at most once), or :func:`fail`
    saying why not."""
    from datetime import UTC, datetime

    from services.ops.scorecards import option_period
    from shared.domain.score_periods import PeriodProblem

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
    print_ranking(table["rows"], period)


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
    deliveries = counted(count, "{count} delivery", "{count} deliveries", grouped=True)
    isvs = counted(len(table["rows"]), "{count} ISV", "{count} ISVs")
    console.print(f"rebuilt the facts of {deliveries}; {isvs} scored", markup=False)
