"""A scorecard's period and how it is asked for: UTC days, ``YYYY-MM-DD`` inputs, the
default of the last 90 days and the ISV id a scorecard is for (issue 18). The API, the pages
and the CLI take them through these, so they refuse the same input with the same words.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.domain.roles import ACTOR_ID_RULE, actor_id_problem
from shared.validation_errors import quoted

#: The period a scorecard covers when none is asked for: the last 90 days, today included.
DEFAULT_PERIOD_DAYS = 90
#: The longest period a scorecard covers, in days (ten years).
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """UTC days from ``first`` to ``last``, both included: a scorecard's deliveries are those
    opened in it."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it starts ({self.first})")
        if self.days > MAX_PERIOD_DAYS:
            raise ValueError(f"a period covers at most {MAX_PERIOD_DAYS} days, not {self.days}")

    @classmethod
    def ending(cls, last: date, days: int = DEFAULT_PERIOD_DAYS) -> Period:
        """The ``days`` days up to ``last``, ``last`` included."""
        return cls(last - timedelta(days=days - 1), last)

    @property
    def days(self) -> int:
        """How many days it covers."""
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The period of the same length just before it (for the trend)."""
        return Period.ending(self.first - timedelta(days=1), self.days)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) falls on one of its UTC days."""
        return self.first <= moment.astimezone(UTC).date() <= self.last

    def day_keys(self) -> list[str]:
        """Its days as ``YYYY-MM-DD`` strings, oldest first (:func:`day_key`)."""
        return [(self.first + timedelta(days=n)).isoformat() for n in range(self.days)]


#: A day as the API, the pages and the CLI take it: ``YYYY-MM-DD`` exactly
#: (``date.fromisoformat`` would also take ``20261130`` and ``2026-W48-1``).
DAY_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_DAY = re.compile(DAY_PATTERN)


class PeriodProblem(ValueError):
    """A day or period a scorecard cannot cover: ``message`` says why, ``fields`` names the
    inputs at fault (``from``, ``to``)."""

    def __init__(self, message: str, fields: tuple[str, ...]):
        super().__init__(message)
        self.message, self.fields = message, fields


def parse_day(name: str, raw: str) -> date:
    """The UTC day ``raw`` (``YYYY-MM-DD``), given as the input ``name``.

    Raises:
      PeriodProblem: Not written so, or not a day of the calendar.
    """
    if not _DAY.fullmatch(raw):
        raise PeriodProblem(
            f"{name} must be a date written YYYY-MM-DD (a UTC day), like 2026-11-30", (name,)
        )
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise PeriodProblem(f"{name} is not a day of the calendar: {raw}", (name,)) from error


def given_day(name: str, values: Sequence[str]) -> date | None:
    """The day the input ``name`` gives (:func:`parse_day`), None when it is not given:
    ``values`` are every value it was given (a query's ``?from=``, the CLI's ``--from``).

    Raises:
      PeriodProblem: Given more than once (which of them was meant?), or not a day.
    """
    if not values:
        return None
    if len(values) > 1:
        raise PeriodProblem(f"{name} is given {len(values)} times; give it once", (name,))
    return parse_day(name, values[0])


def requested_period(
    first: date | None, last: date | None, today: date, names: tuple[str, str] = ("from", "to")
) -> Period:
    """The period asked for with ``from`` and ``to``: ``to`` defaults to ``today`` (UTC),
    ``from`` to the :data:`DEFAULT_PERIOD_DAYS` days ending on ``to``. ``names`` are the two
    inputs' names as the asker wrote them (the CLI's ``--from``, ``--to``), for the message.

    A refusal names only the inputs the asker gave (its ``fields``), and says a default it
    relied on as such ("today (2026-11-30)", "the 90 days up to it").

    Raises:
      PeriodProblem: ``to`` before ``from``; ``from`` after today without ``to``; more than
        :data:`MAX_PERIOD_DAYS` days; or the period (or the one before it, for the trend)
        reaching before year 1.
    """
    first_name, last_name = names
    given = tuple(n for n, day in ((first_name, first), (last_name, last)) if day is not None)
    end = last if last is not None else today
    end_words = f"{last_name} ({last})" if last is not None else f"today ({today})"
    if first is not None and end < first:
        if last is None:
            raise PeriodProblem(
                f"{first_name} ({first}) is after today ({today}); give {last_name} as well "
                f"or an earlier {first_name}",
                (first_name,),
            )
        raise PeriodProblem(f"{last_name} ({last}) is before {first_name} ({first})", (last_name,))
    if first is not None and (end - first).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodProblem(
            f"{first_name} ({first}) and {end_words} span {(end - first).days + 1} days; a "
            f"period covers at most {MAX_PERIOD_DAYS} days",
            given,
        )
    try:
        period = Period.ending(end) if first is None else Period(first, end)
        period.previous()  # the trend's period must exist too
    except (ValueError, OverflowError) as failure:
        if first is None:
            said = (
                f"{end_words} is too early: the {DEFAULT_PERIOD_DAYS} days up to it, or the "
                f"{DEFAULT_PERIOD_DAYS} before them for the trend,"
            )
        else:
            said = (
                f"{first_name} ({first}) is too early: the period of the same length before "
                "it, for the trend,"
            )
        raise PeriodProblem(f"{said} would start before year 1", given) from failure
    return period


def isv_id_refusal(isv_id: str) -> str | None:
    """Why no ISV can have ``isv_id`` (an ISV id in a path, the CLI's ``--isv``), None when
    one can: the actor-id rule (``roles.ACTOR_ID_RULE``) that every token's ``sub`` and every
    delivery's ``isv_id`` follow. The id is quoted with its control characters escaped
    (``repr``) and cut at 60 characters."""
    if actor_id_problem(isv_id) is None:
        return None
    return f"no ISV can have the id {quoted(isv_id)}: an ISV id is {ACTOR_ID_RULE}"


def day_key(moment: datetime) -> str:
    """``"2026-11-30"``: the UTC day of ``moment`` (aware), as the read model groups facts."""
    return moment.astimezone(UTC).date().isoformat()
