"""The timer worker's second clock: recompute the scorecard table of every ISV (the ``/admin``
table and the ISV's bars read it) every ``DC_SCORECARD_REFRESH``, for the default period
ending today (UTC) and with ``DC_CONFIRM_WINDOW`` as the patience
(``services.runtime.scorecards.ScorecardBook.refresh_table``).

One timers process is enough; several refreshing at once is harmless (each writes the whole
table from the same facts, and the last write wins). A refresh reads every delivery's facts of
two periods and scores them: seconds at 100,000 deliveries, so it runs in a thread of its own
with its own event loop and database client, and the deadline firing in the main loop goes on
meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.runtime.collections import database, make_mongo
from services.runtime.scorecards import ScorecardBook
from shared.config import Settings
from shared.domain.score_periods import Period

log = logging.getLogger(__name__)


def refresh_once(settings: Settings, now: datetime) -> dict[str, Any]:
    """Recompute and store the table as of ``now`` (aware), in a fresh event loop and client:
    call it in a thread.

    Parameters:
      settings(Settings): The database, and ``confirm_window`` (the patience).
      now(datetime): Aware; the period is the default one ending on its UTC day.

    Returns:
      dict: The stored table (``services.runtime.scorecards.table_of``).

    Raises:
      pymongo.errors.PyMongoError: The database failed.
    """

    async def refresh() -> dict[str, Any]:
        client = make_mongo(settings)
        try:
            book = ScorecardBook(database(client, settings))
            return await book.refresh_table(Period.ending(now.date()), now, settings.confirm_window)
        finally:
            await client.close()

    return asyncio.run(refresh())


async def refresh_periodically(
    settings: Settings, stop: asyncio.Event, clock: Callable[[], datetime]
) -> None:
    """Refresh the table now and then every ``DC_SCORECARD_REFRESH`` until ``stop`` is set.

    A failed refresh is logged and tried again at the next one: the table stays as it was.

    Parameters:
      settings(Settings): ``scorecard_refresh``, ``confirm_window`` and the database.
      stop(asyncio.Event): Set it to end the loop (a refresh under way is finished first).
      clock(Callable[[], datetime]): The time now, aware UTC.
    """
    interval = settings.scorecard_refresh.total_seconds()
    while not stop.is_set():
        try:
            table = await asyncio.to_thread(refresh_once, settings, clock())
            log.debug("scorecard table refreshed: %d ISVs", len(table["rows"]))
        except Exception:
            log.exception("refreshing the scorecard table failed; trying again in %s s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
