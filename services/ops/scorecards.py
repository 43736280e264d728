"""The operators' scorecard commands, apart from their printing (``commands.py``): one ISV's
scorecard, the table of every ISV computed afresh from the read model, and the rebuild of
every delivery's facts from the stored deliveries (``services.runtime.scorecards``).

The read model is read with PyMongo's async API, as the services read it: each function here
runs in its own event loop (``asyncio.run``) with a client of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.collections import DELIVERIES, database, ensure_indexes, make_mongo
from services.runtime.scorecards import ScorecardBook, table_of
from shared.config import Settings
from shared.domain.score_periods import Period, given_day, isv_id_refusal, requested_period
from shared.domain.scorecard import Scorecard

#: Stored deliveries read per batch by the rebuild: its memory stays that of one batch.
REBUILD_BATCH = 500
Found = TypeVar("Found")


def option_period(first: Sequence[str], last: Sequence[str], today: date) -> Period:
    """The period ``--from`` and ``--to`` ask for, as the API reads ``from`` and ``to``
    (``shared.domain.scorecard.given_day``, ``requested_period``): ``first`` and ``last`` are
    every value each option was given (none, one, or more: refused).

    Raises:
      PeriodProblem: An option given twice, a day not written ``YYYY-MM-DD`` or not of the
        calendar, ``--to`` before ``--from``, ``--from`` after today without ``--to``, more
        than ``MAX_PERIOD_DAYS`` days, or a period reaching before year 1.
    """
    return requested_period(
        given_day("--from", first), given_day("--to", last), today, ("--from", "--to")
    )


def option_isv(isv: str) -> str:
    """The ISV ``--isv`` names, held to the rule the API holds an ISV id in a path to
    (``shared.domain.scorecard.isv_id_refusal``).

    Raises:
      ValueError: Empty, over 200 characters, with a control character, ``.`` or ``..``.
    """
    refusal = isv_id_refusal(isv)
    if refusal is not None:
        raise ValueError(f"--isv: {refusal}")
    return isv


def _period_json(period: Period) -> dict[str, Any]:
    first, last = period.first.isoformat(), period.last.isoformat()
    return {"first_day": first, "last_day": last, "days": period.days}


def card_json(card: Scorecard, period: Period, now: datetime, patience: timedelta) -> dict:
    """One ISV's scorecard as JSON, in the shape ``GET /v1/isvs/{isv_id}/scorecard`` answers:
    ``{isv_id, period, previous_period, patience_seconds, computed_at, figures, score,
    previous_score, trend}``."""
    total, previous = card.score.total, card.previous_score
    return {
        "isv_id": card.isv_id,
        "period": _period_json(period),
        "previous_period": _period_json(period.previous()),
        "patience_seconds": patience.total_seconds(),
        "computed_at": now.isoformat(),
        "figures": card.figures.model_dump(mode="json"),
        "score": card.score.model_dump(mode="json"),
        "previous_score": previous,
        "trend": None if total is None or previous is None else round(total - previous, 1),
    }


def table_json(table: dict[str, Any], period: Period, patience: timedelta) -> dict[str, Any]:
    """The table of every ISV (``services.runtime.scorecards.table_of``) as JSON: ``{period,
    previous_period, patience_seconds, computed_at, rows: [{isv_id, score, previous_score,
    trend, opened, completed, terminated, customer_confirmation_share, dispute_rate,
    overdue_share}], marketplace: figures}``, rows best score first (none last), then by id."""
    rows = []
    for row in table["rows"]:
        score, previous = row["score"], row["previous_score"]
        trend = None if score is None or previous is None else round(score - previous, 1)
        rows.append({**row, "trend": trend})
    return {
        "period": _period_json(period),
        "previous_period": _period_json(period.previous()),
        "patience_seconds": patience.total_seconds(),
        "computed_at": table["computed_at"].isoformat(),
        "rows": rows,
        "marketplace": table["marketplace"],
    }


async def _with_database(settings: Settings, work: Callable[[AsyncDatabase], Awaitable[Found]]):
    client = make_mongo(settings)
    try:
        db = database(client, settings)
        await db.command("ping")
        return await work(db)
    finally:
        await client.close()


def isv_scorecard(settings: Settings, isv_id: str, period: Period, now: datetime) -> Scorecard:
    """``isv_id``'s scorecard of ``period`` at ``now``, as the API computes it.

    Raises:
      pymongo.errors.PyMongoError: The database is unreachable or failed.
    """

    async def read(db: AsyncDatabase) -> Scorecard:
        return await ScorecardBook(db).scorecard(isv_id, period, now, settings.confirm_window)

    return asyncio.run(_with_database(settings, read))


def fresh_table(settings: Settings, period: Period, now: datetime) -> dict[str, Any]:
    """The table of every ISV with a delivery opened in ``period`` or the one before,
    computed now from the facts (``table_of``), not the table the timer worker stored.

    Raises:
      pymongo.errors.PyMongoError: The database is unreachable or failed.
    """

    async def read(db: AsyncDatabase) -> dict[str, Any]:
        facts = await ScorecardBook(db).facts_of_days(period.previous().first, period.last)
        return table_of(period, facts, now, settings.confirm_window)

    return asyncio.run(_with_database(settings, read))


def rebuild(settings: Settings, progress: Callable[[int], None]) -> tuple[int, dict[str, Any]]:
    """File every stored delivery's facts again from its history
    (``ScorecardBook.rebuild_from``), reading the deliveries :data:`REBUILD_BATCH` at a time,
    then refresh the stored table for the default period ending today.

    Parameters:
      settings(Settings): The database and ``confirm_window``.
      progress(Callable[[int], None]): Called with the count every 1,000 deliveries.

    Returns:
      tuple[int, dict]: How many deliveries were read, and the refreshed table.

    Raises:
      pymongo.errors.PyMongoError: The database is unreachable or failed; what was filed
        stays filed, and running it again is harmless.
    """

    async def work(db: AsyncDatabase) -> tuple[int, dict[str, Any]]:
        await ensure_indexes(db)
        book = ScorecardBook(db)
        # Every delivery, on purpose (test_indexed_queries: SCANS_ON_PURPOSE): the rebuild is
        # about all of them. The cursor reads a batch at a time, never the whole collection.
        deliveries = db[DELIVERIES].find({}, {"outbox": 0}, batch_size=REBUILD_BATCH)
        count = await book.rebuild_from(deliveries, progress)
        now = datetime.now(UTC)
        table = await book.refresh_table(Period.ending(now.date()), now, settings.confirm_window)
        return count, table

    return asyncio.run(_with_database(settings, work))
