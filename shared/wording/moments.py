"""Time words: durations, moments (absolute and relative to now), sizes, and deadlines worded
for one reader. Part of :mod:`shared.wording`, which re-exports every name here; import from
there.

Pure: no I/O, no clock (``now`` is always passed in). The rules:

- **Durations** (:func:`duration`): the largest unit of day, hour, minute, second that the
  duration reaches, rounded to the nearest whole number of it (a half rounds up); a rounding
  that reaches the next unit says that unit ("23 hours 40 minutes" is "1 day"). So
  14 days and 13 days 23:59:59 are both "14 days", 13 days 11:59:59 is "13 days", 59.6 s is
  "1 minute". Exact: computed in whole microseconds, no floating point.
- **Counts** (:func:`counted`): a count and the word for one or for many, as the count asks:
  "1 day", "0 days", "90 days", "1 ISV", "3 ISVs"; every count in words says it so.
- **Moments relative to now** (:func:`relative`): "in 14 days" ahead, "3 hours ago" behind,
  and "now" while the duration rounds to 0 seconds (less than half a second either way).
- **Date and time** (:func:`when`): "Wed 9 Dec 2026, 12:00 UTC": always UTC, English day and
  month abbreviations from the tables below whatever the process locale; a datetime without a
  zone is taken as UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from shared.domain.roles import Role
from shared.domain.states import DeadlineKind

# --- time ------------------------------------------------------------------------------------


class Unit(NamedTuple):
    """A unit of :func:`duration`: its word for one and for many, its length in microseconds."""

    one: str
    many: str
    microseconds: int


#: Largest first: a duration is said in the first unit it reaches.
UNITS: tuple[Unit, ...] = (
    Unit("day", "days", 86_400_000_000),
    Unit("hour", "hours", 3_600_000_000),
    Unit("minute", "minutes", 60_000_000),
    Unit("second", "seconds", 1_000_000),
)
#: A duration: ``{count}`` and its unit's word.
AMOUNT = "{count} {unit}"
#: A moment ahead of now, behind it, and within half a second of it; ``{span}`` is a duration.
AHEAD = "in {span}"
BEHIND = "{span} ago"
NOW = "now"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: ``{weekday}``, ``{day}`` (no leading zero), ``{month}``, ``{year}``, ``{hh}:{mm}``: UTC.
MOMENT = "{weekday} {day} {month} {year}, {hh:02d}:{mm:02d} UTC"
#: A moment and how far it is: ``{moment}`` from :func:`when`, ``{relative}`` from :func:`relative`.
MOMENT_AND_DISTANCE = "{moment} ({relative})"


def _rounded(delta: timedelta) -> tuple[int, Unit]:
    """(count, unit) of ``abs(delta)`` under the module's rounding rule; (0, second) below
    half a second."""
    size = abs(delta) // timedelta(microseconds=1)
    for bigger, unit in zip((None, *UNITS), UNITS, strict=True):
        if size >= unit.microseconds or unit is UNITS[-1]:
            count = (size + unit.microseconds // 2) // unit.microseconds
            if bigger is not None and count * unit.microseconds == bigger.microseconds:
                return 1, bigger  # the rounding reached the next unit: say that one
            return count, unit
    raise AssertionError("unreachable: the last unit always matches")


def counted(count: int, one: str, many: str, *, grouped: bool = False) -> str:
    """``count`` things, the word for one or for many as the count asks (the package's one
    plural rule): "1 day", "0 days", "90 days", "1 ISV", "3 ISVs"; ``grouped`` writes the
    count with thousands separators ("2,500 deliveries")."""
    number = f"{count:,}" if grouped else str(count)
    return AMOUNT.format(count=number, unit=one if count == 1 else many)


#: The unit of a period of days (a scorecard's): :func:`days_words`.
DAY_UNIT = UNITS[0]


def days_words(days: int) -> str:
    """A number of days: "1 day", "90 days" (:func:`counted`)."""
    return counted(days, DAY_UNIT.one, DAY_UNIT.many)


def duration(delta: timedelta) -> str:
    """``delta`` (its size; the sign is ignored) in words: "14 days", "1 hour", "0 seconds".

    Rounded to the nearest whole of the largest unit it reaches (see the module's rules)."""
    count, unit = _rounded(delta)
    return counted(count, unit.one, unit.many)


def relative(moment: datetime, now: datetime) -> str:
    """``moment`` seen from ``now``: "in 14 days", "3 hours ago", or "now" when they are less
    than half a second apart. Both must be aware, or both naive."""
    delta = moment - now
    count, _ = _rounded(delta)
    if count == 0:
        return NOW
    return (AHEAD if delta > timedelta(0) else BEHIND).format(span=duration(delta))


def when(moment: datetime) -> str:
    """``moment`` as a date and time for people, in UTC: "Wed 9 Dec 2026, 12:00 UTC" (to the
    minute, seconds dropped). A naive ``moment`` is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return MOMENT.format(
        weekday=WEEKDAYS[moment.weekday()],
        day=moment.day,
        month=MONTHS[moment.month - 1],
        year=moment.year,
        hh=moment.hour,
        mm=moment.minute,
    )


def when_relative(moment: datetime, now: datetime) -> str:
    """A moment with how far it is: "Wed 9 Dec 2026, 12:00 UTC (in 14 days)"."""
    return MOMENT_AND_DISTANCE.format(moment=when(moment), relative=relative(moment, now))


#: Sizes: the largest unit that the size reaches, to one decimal above bytes.
SIZE_UNITS: tuple[tuple[str, int], ...] = (("MB", 1024 * 1024), ("KB", 1024))
SIZE_IN_BYTES = "{count} bytes"
SIZE_IN_UNITS = "{count:.1f} {unit}"


def size_words(size: int) -> str:
    """A size in bytes for people: "512 bytes", "1.5 KB", "5.0 MB" (binary units, 1 KB =
    1024 bytes)."""
    for name, bytes_ in SIZE_UNITS:
        if size >= bytes_:
            return SIZE_IN_UNITS.format(count=size / bytes_, unit=name)
    return SIZE_IN_BYTES.format(count=size)


# --- deadlines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineWording:
    """How one deadline kind is said (:data:`DEADLINES`): sentence templates."""

    #: Its name in a list of facts.
    label: str
    #: The sentence while it runs, for the customer and for everyone else; ``{at}`` is
    #: :func:`when_relative` of its due time.
    due_for_customer: str
    due: str
    #: The sentence while a dispute pauses it; ``{left}`` is the :func:`duration` left.
    paused: str


#: How each deadline kind is said, on the page and in emails alike.
DEADLINES: Mapping[DeadlineKind, DeadlineWording] = {
    DeadlineKind.CONFIRMATION_WINDOW: DeadlineWording(
        "Automatic confirmation",
        "Confirmed automatically on {at}, unless you confirm or ask for changes first.",
        "Confirmed automatically on {at}, unless the customer confirms or asks for changes first.",
        "The automatic confirmation is paused while the dispute is open; {left} will be left "
        "when it resumes.",
    ),
    DeadlineKind.REMINDER: DeadlineWording(
        "Reminder",
        "You get a reminder email on {at}.",
        "The customer gets a reminder email on {at}.",
        "The reminder is paused while the dispute is open; {left} will be left when it resumes.",
    ),
    DeadlineKind.WARRANTY: DeadlineWording(
        "Warranty ends",
        "The warranty ends on {at}; the delivery then completes. Until then you may ask for "
        "warranty service.",
        "The warranty ends on {at}; the delivery then completes.",
        "The warranty period is paused while the dispute is open; {left} will be left when it "
        "resumes.",
    ),
}
#: A paused deadline's value in a list of facts.
PAUSED_VALUE = "paused, {left} left"


@dataclass(frozen=True)
class DeadlineWords:
    """One deadline worded for one reader (:func:`deadline_words`); ``label`` is its name."""

    label: str
    #: For a list of facts: "Wed 9 Dec 2026, 12:00 UTC (in 14 days)" or "paused, 3 days left".
    value: str
    #: What happens then, for the reader.
    sentence: str


def deadline_words(deadline: Mapping[str, Any], reader: Role, now: datetime) -> DeadlineWords:
    """A deadline (stored, or a ``Deadline``'s ``model_dump()``: ``kind``, ``status``,
    ``due_at``, ``remaining_seconds``) worded for ``reader``: running, or paused (``status``
    paused or no ``due_at``; ``remaining_seconds`` left, None counting as nothing). Raises
    ValueError for an unknown kind."""
    wording = DEADLINES[DeadlineKind(deadline["kind"])]
    due_at = deadline.get("due_at")
    if deadline.get("status") == "paused" or due_at is None:
        left = duration(timedelta(seconds=deadline.get("remaining_seconds") or 0))
        return DeadlineWords(
            wording.label, PAUSED_VALUE.format(left=left), wording.paused.format(left=left)
        )
    at = when_relative(due_at, now)
    template = wording.due_for_customer if reader == Role.CUSTOMER else wording.due
    return DeadlineWords(wording.label, at, template.format(at=at))
