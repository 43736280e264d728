"""Each party's own list of deliveries (``/me``), read through one index per role however many
deliveries are stored.

The local FerretDB serves a query from an index only for equality (or ``$in``) on the first
field of an index, never sorts through one, and reads every document a query returns in full
(about half a millisecond per delivery document, measured with 100,000 stored). So a list must
read what it shows, not what it skips. Every delivery names where it stands in its customer's
list and in its ISV's list, in one field per role (``customer_list``, ``isv_list``, each
indexed; :func:`list_fields`):

- ``"<party>/you"``: the party must act now (``shared.domain.actions.whose_turn`` names its
  role; the ISV's while the customer's warranty request awaits the service). The whole group
  is one indexed equality: the page counts it, finds the overdue ones and orders it.
- ``"<party>/other/<day>"``: open, waiting for someone else (the other party, an administrator
  while a dispute is open, or the clock), ``<day>`` the UTC day it last changed.
- ``"<party>/done/<day>"``: completed or terminated, ``<day>`` the UTC day it finished.

The last two groups are read newest first, a window of days at a time (:func:`walk`): one
``$in`` query names the key of every day in the window, so quiet days cost nothing and a busy
party's page reads about the rows it shows. The days are those of ``delivery_days`` (every UTC
day on which a delivery was opened or changed; :class:`DayCalendar` keeps them for a minute)
and the days since the newest of them.

The workflow's store writes the fields with every delivery it writes; deliveries stored before
they existed get them once (``DeliveryMigrations.place_deliveries_stored_before_the_lists``). They
are bookkeeping: views and listings leave them out (:data:`LIST_FIELDS`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from services.runtime.delivery_days import day_of
from shared.domain.actions import Situation, whose_turn
from shared.domain.roles import Role

#: The groups of a party's list, in the order the list shows them.
YOURS, OTHERS, DONE = "you", "other", "done"
GROUPS = (YOURS, OTHERS, DONE)
#: The groups read newest first, a window of days at a time, in the list's order.
WALKED_GROUPS = (OTHERS, DONE)
#: The field naming a delivery's place in each party's list.
LIST_FIELD: Mapping[Role, str] = {Role.CUSTOMER: "customer_list", Role.ISV: "isv_list"}
#: Stored on every delivery for the lists, never shown.
LIST_FIELDS = tuple(LIST_FIELD.values())
#: Days named by one walk query at most. The patched FerretDB pushes an ``$in`` of up to 1,000
#: values down to the index, but each value costs: measured with 10,000 deliveries stored, a
#: query naming 128 days took 1.4 ms, one naming 500 days 11 ms, finding nothing.
MAX_WINDOW_DAYS = 128
#: Days named by a walk's first query.
FIRST_WINDOW_DAYS = 2
#: How long a :class:`DayCalendar` keeps the days it read before reading them again (a year's
#: days take about 15 ms to read). Only a one-off migration adds a day in the past; every other
#: day is added as it begins, and the calendar counts every day since its newest anyway.
CALENDAR_TTL = timedelta(minutes=10)


def list_group(situation: Situation, role: Role) -> str:
    """Where a delivery in ``situation`` stands in the list of its party acting as ``role``:
    :data:`DONE` in a terminal state, :data:`YOURS` when ``role`` must act now
    (``actions.whose_turn``: nobody but an administrator acts while a dispute is open, the ISV
    while the customer's warranty request awaits the service), else :data:`OTHERS`.

    Raises:
      KeyError: For a process without a table.
    """
    if situation.terminal:
        return DONE
    return YOURS if role in whose_turn(situation) else OTHERS


def list_key(party_id: str, group: str, day: str | None = None) -> str:
    """The value of a list field: ``"<party>/you"``, or ``"<party>/<group>/<day>"`` for the
    walked groups (``day`` ``"2026-11-30"``)."""
    if group == YOURS:
        return f"{party_id}/{YOURS}"
    return f"{party_id}/{group}/{day}"


def list_fields(
    *, situation: Situation, customer_id: str, isv_id: str, updated_at: datetime
) -> dict[str, str]:
    """The list fields of a delivery, ``{"customer_list": ..., "isv_list": ...}``: its place
    in its customer's and its ISV's list (:func:`list_group`, :func:`list_key`), the walked
    groups by the UTC day of ``updated_at``."""
    day = day_of(updated_at)
    parties = {Role.CUSTOMER: customer_id, Role.ISV: isv_id}
    return {
        name: list_key(parties[role], list_group(situation, role), day)
        for role, name in LIST_FIELD.items()
    }


def list_fields_of(document: Mapping[str, Any]) -> dict[str, str]:
    """:func:`list_fields` of a stored delivery (``actions.Situation.of_document``: its
    ``dispute`` open while its status is ``open``, its ``warranty_requests``).

    Raises:
      KeyError: Without ``process``, ``state``, ``customer_id``, ``isv_id`` or ``updated_at``.
      ValueError: For an unknown process or state.
    """
    return list_fields(
        situation=Situation.of_document(document),
        customer_id=document["customer_id"],
        isv_id=document["isv_id"],
        updated_at=document["updated_at"],
    )


#: Where stored times count their milliseconds from.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The milliseconds a :class:`Position` may hold: from the epoch (the workflow's clock writes
#: every ``updated_at``; none is older) to the last of year 9999, the last time Python reads
#: (and whose day :func:`~services.runtime.delivery_days.day_of` names in four digits).
MIN_MILLIS = 0
MAX_MILLIS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, order=True)
class Position:
    """A delivery's place in a walked group, which is ordered newest change first: its
    ``updated_at`` in whole milliseconds since the epoch (as stored), then its id.

    Raises:
      ValueError: For milliseconds outside :data:`MIN_MILLIS` to :data:`MAX_MILLIS`: before
        1970 or after 9999 (a time of year 10000 cannot even be read, nor its day named).
    """

    millis: int
    delivery_id: str

    def __post_init__(self) -> None:
        if not MIN_MILLIS <= self.millis <= MAX_MILLIS:
            raise ValueError(
                f"a position's time is between 1970 and 9999, not {self.millis} ms from 1970"
            )

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Position:
        """The position of a stored delivery (``updated_at`` aware, ``_id``)."""
        return cls((document["updated_at"] - EPOCH) // timedelta(milliseconds=1), document["_id"])

    @property
    def day(self) -> str:
        """The UTC day of the position, ``"2026-11-30"``."""
        return day_of(EPOCH + timedelta(milliseconds=self.millis))


@dataclass
class Walked:
    """What :func:`walk` found.

    ``rows`` are (group, document) to show, newest change first within each group.
    ``resume`` is where the next page starts: (group, the position after which to go on, or
    None for the group's newest), or None when nothing is left. ``stopped_at`` is the day the
    budget ran out on (then ``rows`` may be fewer than asked for), else None.
    """

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resume: tuple[str, Position | None] | None = None
    examined: int = 0
    queries: int = 0
    stopped_at: str | None = None


def _next_window(found: int, days: float, kept: int, wanted: int, budget_left: int) -> int:
    """Days for the next query. Documents cost (each is read whole) and queries cost little, so
    aim low: as many days as hold, at the rate seen so far (``found`` over ``days``, counted as
    :func:`day_weight` says), the rows still ``wanted`` (or the ``budget_left``), rounded down,
    at least 1 and at most :data:`MAX_WINDOW_DAYS`; four times more while nothing was found."""
    if found == 0:
        return min(MAX_WINDOW_DAYS, max(FIRST_WINDOW_DAYS, math.ceil(days)) * 4)
    per_day = found / max(days, 0.05)
    keep_share = max(kept / found, 0.05)
    documents = min(wanted / keep_share, budget_left)
    return max(1, min(MAX_WINDOW_DAYS, math.floor(documents / per_day)))


def day_weight(day: str, now: datetime) -> float:
    """How much of ``day`` (UTC) has passed at ``now``: 1 for a past day, the share elapsed for
    today, 0 for a day to come; a walk's rate of rows per day counts days by it."""
    today = now.astimezone(UTC).date().isoformat()
    if day < today:
        return 1.0
    if day > today:
        return 0.0
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (now - midnight) / timedelta(days=1)


async def walk(
    deliveries: AsyncCollection,
    days: Sequence[str],
    role: Role,
    party_id: str,
    *,
    groups: Sequence[str] = WALKED_GROUPS,
    after: Position | None = None,
    room: int,
    budget: int,
    keep: Callable[[Mapping[str, Any]], bool],
    projection: Mapping[str, int],
    now: datetime | None = None,
) -> Walked:
    """The next ``room`` deliveries of ``party_id``'s walked ``groups`` that ``keep`` accepts:
    each group newest change first, the groups in the order given (the list's: :data:`OTHERS`
    before :data:`DONE`), the first from ``after`` on. One more is looked for, to learn whether
    another page follows.

    Each query reads one window of days of one group through the role's list field; the
    window grows while it finds few. At most ``budget`` documents are looked at (those ``keep``
    refuses count too), so a narrow filter over a long history stops part way and says where
    (``stopped_at``); its ``resume`` goes on from there.

    Parameters:
      deliveries(AsyncCollection): The ``deliveries`` collection.
      days(Sequence[str]): Every day that may hold a delivery, newest first
        (:meth:`DayCalendar.days`).
      role(Role): Customer or ISV: which list field is read.
      party_id(str): The party.
      groups(Sequence[str]): The walked groups to read, in order.
      after(Position | None): Where to start in the first group: after this position (None:
        at its newest).
      room(int): Rows to find, at least 1.
      budget(int): Documents to look at, at most (at least ``room + 1`` is sensible).
      keep(Callable): Whether a document is listed (the page's filters).
      projection(Mapping[str, int]): As for ``find``.
      now(datetime | None): Aware; today and the days to come weigh less in the rate that
        sizes the windows (:func:`day_weight`). Default: the current time.

    Returns:
      Walked: The rows, where to resume, and what it cost.

    Raises:
      KeyError: For a role without a list field.
      ValueError: For ``room`` below 1 or a group that is not walked.
    """
    if room < 1:
        raise ValueError("a walk finds at least one row")
    if not set(groups) <= set(WALKED_GROUPS):
        raise ValueError(f"only {', '.join(WALKED_GROUPS)} are walked, not {list(groups)}")
    name = LIST_FIELD[role]
    now = now or datetime.now(UTC)
    walked = Walked()
    found_rows: list[tuple[str, dict[str, Any]]] = []
    for group in groups:
        newest = after.day if after is not None else None
        todo = [day for day in days if newest is None or day <= newest]
        window, found, looked_days, kept = FIRST_WINDOW_DAYS, 0, 0.0, 0
        while todo:
            chunk, todo = todo[:window], todo[window:]
            keys = [list_key(party_id, group, day) for day in chunk]
            walked.queries += 1
            documents = await deliveries.find({name: {"$in": keys}}, projection).to_list()
            documents.sort(key=Position.of, reverse=True)
            looked_days += sum(day_weight(day, now) for day in chunk)
            for document in documents:
                position = Position.of(document)
                if after is not None and position >= after:
                    continue  # shown already, on an earlier page
                found += 1
                walked.examined += 1
                if keep(document):
                    kept += 1
                    found_rows.append((group, document))
                    if len(found_rows) > room:
                        walked.rows = found_rows[:room]
                        walked.resume = _resume(found_rows[room - 1], found_rows[room])
                        return walked
                if walked.examined >= budget:
                    walked.rows = found_rows
                    walked.resume = (group, position)
                    walked.stopped_at = position.day
                    return walked
            window = _next_window(
                found, looked_days, kept, room + 1 - len(found_rows), budget - walked.examined
            )
        after = None
    walked.rows = found_rows
    return walked


def _resume(
    last: tuple[str, Mapping[str, Any]], following: tuple[str, Mapping[str, Any]]
) -> tuple[str, Position | None]:
    """Where the page after ``last`` (the last row shown) starts: after it, or at the start
    of the next group when ``following``, the first row not shown, is in that group."""
    if following[0] != last[0]:
        return following[0], None
    return last[0], Position.of(last[1])


@dataclass
class DayCalendar:
    """The days a walk goes through, newest first: those of ``delivery_days`` (read whole, at
    most once per ``ttl``) and every calendar day after the newest of them up to tomorrow (UTC),
    so that a delivery written today is found before the next read.

    The records are few (one per day with activity) and tiny.
    """

    ttl: timedelta = CALENDAR_TTL
    clock: Callable[[], float] = time.monotonic
    _recorded: list[str] = field(default_factory=list)
    _read_at: float | None = None

    async def days(self, days: AsyncCollection, today: date) -> list[str]:
        """Every day that may hold a delivery, newest first (:func:`calendar_days`).

        Parameters:
          days(AsyncCollection): The ``delivery_days`` collection.
          today(date): The UTC date now.
        """
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.ttl.total_seconds():
            # Read whole on purpose: one tiny record per day with activity.
            recorded = [record["_id"] async for record in days.find({}, {"_id": 1})]
            self._recorded = sorted(recorded, reverse=True)
            self._read_at = now
        return calendar_days(self._recorded, today)


def calendar_days(recorded: Sequence[str], today: date) -> list[str]:
    """``recorded`` (days newest first) preceded by every day after the newest of them up to
    the day after ``today``: the days a walk goes through."""
    tomorrow = today + timedelta(days=1)
    newest = date.fromisoformat(recorded[0]) if recorded else today - timedelta(days=1)
    fresh = []
    day = tomorrow
    while day > newest:
        fresh.append(day.isoformat())
        day -= timedelta(days=1)
    return fresh + list(recorded)
