"""The scorecard's read model: each delivery's facts (``shared.domain.scorecard``) filed by
ISV and opening day, and the table of every ISV's scorecard for ``/admin``.

**Filed through the outbox.** With every applied command the workflow stores the delivery's
new facts in its outbox (``{"scorecard": facts}``, beside the events and deadlines), in the
same compare-and-set write as the delivery; the relay then hands them to
:meth:`ScorecardBook.record`. A relay that dies half-way is repeated by the sweep, and an
event redelivered relays the same facts again: facts carry the delivery's ``version`` (one per
event), and a record only replaces facts of an older version, so every event counts once
however often it is relayed, and an older one relayed late never overwrites a newer.

**Filed by day.** ``scorecard_days`` holds one document per (opening day, ISV), ``_id``
``"<YYYY-MM-DD>|<isv_id>"`` (the day is fixed-width, so any ISV id fits), with the facts of the
deliveries that ISV opened that day. A scorecard of a period reads one document per day of it
and its previous period by ``_id`` (``$in``): 180 reads at most for the default period,
however many deliveries the ISV has had before.

**One text per day.** A document's ``facts`` is one string, a line per delivery
(:func:`facts_line`: its id and its facts' JSON), and ``revision`` counts its writes; a record
reads the document, replaces or adds its delivery's line, and writes it back only if
``revision`` is still the one it read (compare-and-set, retried). Not a field per delivery:
FerretDB spends its time per field of a document it reads, and the big ISV's 180 days of
nested facts (3,000 deliveries, 50,000 fields) took 600 ms to read where its 180 strings take
40 (``bench/scorecards.py``).

**The table** of every ISV reads every delivery opened in two periods, too much for a
request at 100,000 deliveries: the timers service recomputes it every
``DC_SCORECARD_REFRESH`` (:meth:`ScorecardBook.refresh_table`) into one ``scorecard_table``
document, with the marketplace's own figures (also kept alone in a small document, for the
ISV's bars); ``/admin`` reads the table.

``delivery-center scorecard rebuild`` recomputes every delivery's facts from its history
(:meth:`ScorecardBook.rebuild_from`), for deliveries stored before this existed or after the
formula changed.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections import defaultdict
from collections.abc import AsyncIterable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.domain.delivery import Delivery
from shared.domain.delivery_facts import DeliveryFacts, facts_of
from shared.domain.score_periods import Period, day_key
from shared.domain.scorecard import Figures, Scorecard, figures_of, scorecard_of

#: One document per (opening day, ISV): the facts of the deliveries the ISV opened that day.
SCORECARD_DAYS = "scorecard_days"
#: One document, ``_id`` :data:`TABLE_ID`: every ISV's scorecard row and the marketplace's figures.
SCORECARD_TABLE = "scorecard_table"
TABLE_ID = "latest"
#: The table's marketplace figures alone, in a small document of their own: FerretDB reads a
#: document whole, and the table's rows (one per ISV) made the ISV's section read 19 ms more.
MARKETPLACE_ID = "marketplace"
#: What the marketplace's document holds of the table.
_MARKETPLACE_FIELDS = ("computed_at", "first_day", "last_day", "marketplace")
#: Rounds a record tries before giving up: a round is lost only to another writer of the same
#: day's document (the same ISV's deliveries opened that day) in between its read and write.
_RECORD_ATTEMPTS = 30
#: The longest pause between two rounds, in seconds (jittered, growing with the rounds).
_RECORD_BACKOFF = 0.05


def day_document_id(day: str, isv_id: str) -> str:
    """``"2026-11-30|isv-1"``: the ``scorecard_days`` document of ``isv_id``'s openings on
    ``day`` (``YYYY-MM-DD``)."""
    return f"{day}|{isv_id}"


def _day_keys(first: date, last: date) -> list[str]:
    """``YYYY-MM-DD`` of every day from ``first`` to ``last``, both included (none if ``last``
    is before ``first``). Not ``Period.day_keys``: a period and its previous one together may
    span twice the longest ``Period``."""
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def facts_line(facts: DeliveryFacts) -> str:
    """``facts`` as one line of a day's text: the delivery id, a space, and the facts' JSON
    (pydantic's, which never holds a raw line break); :func:`facts_from_line` reads it back
    exactly.

    Raises:
      ValueError: The delivery id holds white space (ids are 32 hex digits).
    """
    if not facts.delivery_id or any(c.isspace() for c in facts.delivery_id):
        raise ValueError(f"a delivery id without white space, not {facts.delivery_id!r}")
    return f"{facts.delivery_id} {facts.model_dump_json()}"


def facts_from_line(line: str) -> DeliveryFacts:
    """The facts :func:`facts_line` wrote.

    Raises:
      ValueError: ``line`` is not such a line (pydantic's ``ValidationError`` is one).
    """
    delivery_id, _, json = line.partition(" ")
    facts = DeliveryFacts.model_validate_json(json)
    if facts.delivery_id != delivery_id:
        raise ValueError(f"a scorecard line of {delivery_id!r} holds {facts.delivery_id!r}'s facts")
    return facts


def _lines_of(document: dict[str, Any]) -> dict[str, str]:
    """A day document's lines by delivery id."""
    return {line.split(" ", 1)[0]: line for line in document["facts"].split("\n") if line}


@functools.lru_cache(maxsize=10_000)
def _remembered(line: str) -> DeliveryFacts:
    """:func:`facts_from_line`, remembered: a line is the same facts for good (facts are
    frozen), and an ISV's scorecard (its API, its list page) reads the same thousands of lines
    again and again. Bounded: 10,000 lines (about 20 MB) cover the biggest ISV's two periods."""
    return facts_from_line(line)


def _facts_in(document: dict[str, Any], *, remember: bool) -> list[DeliveryFacts]:
    read = _remembered if remember else facts_from_line
    return [read(line) for line in _lines_of(document).values()]


class ScorecardBook:
    """The read model in one database.

    Parameters:
      db(AsyncDatabase): The product's database.
    """

    def __init__(self, db: AsyncDatabase):
        self.days = db[SCORECARD_DAYS]
        self.table = db[SCORECARD_TABLE]

    async def record(self, facts: DeliveryFacts, *, replace_same_version: bool = False) -> bool:
        """File ``facts`` unless facts of a newer version (or, by default, the same one) are
        filed already: relaying an event again changes nothing.

        Parameters:
          facts(DeliveryFacts): One delivery's facts, as ``facts_of`` read them.
          replace_same_version(bool): Also replace facts of the same version (the rebuild:
            the formula may have changed since they were filed).

        Returns:
          bool: Whether they were filed (False: newer or equal facts are there already).

        Raises:
          pymongo.errors.PyMongoError: The database failed; the relay is retried.
          RuntimeError: Other writers of the day's document came first every round (the
            relay is retried).
        """
        day = day_key(facts.opened_at)
        key = day_document_id(day, facts.isv_id)
        line = facts_line(facts)
        for attempt in range(_RECORD_ATTEMPTS):
            if attempt:
                # Another writer of this day's document came between our read and write.
                await asyncio.sleep(random.uniform(0, _RECORD_BACKOFF * min(1.0, attempt / 5)))
            document = await self.days.find_one({"_id": key})
            if document is None:
                try:
                    await self.days.insert_one(
                        {
                            "_id": key,
                            "day": day,
                            "isv_id": facts.isv_id,
                            "revision": 1,
                            "facts": line,
                        }
                    )
                    return True
                except DuplicateKeyError:
                    continue
            lines = _lines_of(document)
            filed = lines.get(facts.delivery_id)
            if filed is not None:
                version = facts_from_line(filed).version
                if version > facts.version or (
                    version == facts.version and not replace_same_version
                ):
                    return False
            lines[facts.delivery_id] = line
            revision = document["revision"]
            written = await self.days.update_one(
                {"_id": key, "revision": revision},
                {"$set": {"facts": "\n".join(lines.values()), "revision": revision + 1}},
            )
            if written.matched_count:
                return True
        raise RuntimeError(f"could not file the scorecard facts of {facts.delivery_id}")

    async def facts_of_isv(self, isv_id: str, first: date, last: date) -> list[DeliveryFacts]:
        """The facts of the deliveries ``isv_id`` opened from ``first`` to ``last`` (UTC days,
        both included), one read per day by ``_id``."""
        keys = [day_document_id(day, isv_id) for day in _day_keys(first, last)]
        found: list[DeliveryFacts] = []
        async for document in self.days.find({"_id": {"$in": keys}}):
            found.extend(_facts_in(document, remember=True))
        return found

    async def facts_of_days(self, first: date, last: date) -> list[DeliveryFacts]:
        """The facts of every delivery opened from ``first`` to ``last``, every ISV's (read
        afresh: tens of thousands, which would only push an ISV's out of memory)."""
        found: list[DeliveryFacts] = []
        async for document in self.days.find({"day": {"$in": _day_keys(first, last)}}):
            found.extend(_facts_in(document, remember=False))
        return found

    async def scorecard(
        self, isv_id: str, period: Period, now: datetime, patience: timedelta
    ) -> Scorecard:
        """``isv_id``'s scorecard of ``period`` (with the previous period's score).

        Parameters:
          isv_id(str): Whose.
          period(Period): Which openings count.
          now(datetime): Aware; running waits count up to it.
          patience(timedelta): ``DC_CONFIRM_WINDOW``, past which a wait on the ISV is overdue.
        """
        facts = await self.facts_of_isv(isv_id, period.previous().first, period.last)
        return scorecard_of(isv_id, period, facts, now, patience)

    async def refresh_table(self, period: Period, now: datetime, patience: timedelta) -> dict:
        """Recompute the table: every ISV with a delivery opened in ``period`` or the one
        before, its scorecard's row, and the marketplace's figures of ``period``; store it as
        the one ``scorecard_table`` document and return it.

        Reads every delivery's facts of both periods: for the timers' periodic refresh and
        the operators' command, never a request.
        """
        facts = await self.facts_of_days(period.previous().first, period.last)
        table = table_of(period, facts, now, patience)
        await self.table.replace_one({"_id": TABLE_ID}, table, upsert=True)
        marketplace = {"_id": MARKETPLACE_ID, **{k: table[k] for k in _MARKETPLACE_FIELDS}}
        await self.table.replace_one({"_id": MARKETPLACE_ID}, marketplace, upsert=True)
        return table

    async def latest_table(self) -> dict | None:
        """The table as last refreshed (see :func:`table_of` for its shape), or None before the
        first refresh."""
        return await self.table.find_one({"_id": TABLE_ID})

    async def latest_marketplace(self) -> dict | None:
        """The marketplace's part of the table as last refreshed: ``{_id, computed_at,
        first_day, last_day, marketplace}`` (see :func:`table_of`), or None before the first
        refresh (or before a refresh that wrote it)."""
        return await self.table.find_one({"_id": MARKETPLACE_ID})

    async def rebuild_from(
        self,
        deliveries: AsyncIterable[dict[str, Any]],
        progress: Callable[[int], None] | None = None,
        *,
        concurrency: int = 8,
    ) -> int:
        """File the facts of every stored delivery in ``deliveries`` again, read from its
        history (same-version facts are replaced; newer ones filed meanwhile are kept), up to
        ``concurrency`` records at a time (deliveries of one day and ISV share a document;
        their records take turns by its revision).

        Parameters:
          deliveries(AsyncIterable[dict]): Stored delivery documents, bookkeeping included.
          progress(Callable[[int], None] | None): Called with the count read every 1,000.
          concurrency(int): Records under way at once (at least 1).

        Returns:
          int: How many deliveries were read (and filed).

        Raises:
          ExceptionGroup: A record failed (the database); what was filed stays filed.
        """
        count = 0
        slots = asyncio.Semaphore(max(1, concurrency))

        async def file(facts: DeliveryFacts) -> None:
            try:
                await self.record(facts, replace_same_version=True)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            async for document in deliveries:
                delivery = Delivery.model_validate(
                    {k: v for k, v in document.items() if k in Delivery.model_fields}
                )
                await slots.acquire()
                group.create_task(file(facts_of(delivery)))
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count)
        return count


def table_of(
    period: Period, facts: Iterable[DeliveryFacts], now: datetime, patience: timedelta
) -> dict[str, Any]:
    """The ``scorecard_table`` document for ``period`` from the facts of it and the previous
    period.

    Returns:
      dict: ``{_id, computed_at, first_day, last_day, marketplace: Figures (JSON), rows: [{isv_id,
      score, previous_score, opened, completed, terminated, customer_confirmation_share,
      dispute_rate, overdue_share}]}``, rows by score, best first (no score last), then id.
    """
    by_isv: dict[str, list[DeliveryFacts]] = defaultdict(list)
    current: list[DeliveryFacts] = []
    for fact in facts:
        by_isv[fact.isv_id].append(fact)
        if period.contains(fact.opened_at):
            current.append(fact)
    rows = [
        row_of(scorecard_of(isv, period, group, now, patience)) for isv, group in by_isv.items()
    ]
    rows.sort(key=lambda row: (row["score"] is None, -(row["score"] or 0), row["isv_id"]))
    marketplace: Figures = figures_of(current, now, patience)
    return {
        "_id": TABLE_ID,
        "computed_at": now,
        "first_day": period.first.isoformat(),
        "last_day": period.last.isoformat(),
        "marketplace": marketplace.model_dump(mode="json"),
        "rows": rows,
    }


def row_of(card: Scorecard) -> dict[str, Any]:
    """One row of the table: the figures a list of ISVs compares."""
    figures = card.figures
    return {
        "isv_id": card.isv_id,
        "score": card.score.total,
        "previous_score": card.previous_score,
        "opened": figures.opened,
        "completed": figures.completed,
        "terminated": figures.terminated,
        "customer_confirmation_share": figures.customer_confirmation_share,
        "dispute_rate": figures.dispute_rate,
        "overdue_share": figures.overdue_share,
    }
