"""Time words: durations, moments (absolute and relative to now), sizes, and deadlines worded
for one reader. Part of :mod:`shared.wording`, which re-exports every name here; import from
there.

Pure: no I/O, no clock (``now`` is always passed in). The rules:

- **Durations** (:func:`duration`): the largest unit of day, hour, minute, second that the
  duration reaches, rounded to the nearest whole number of it (a half rounds up); a rounding
  that reaches the next unit says that unit ("23 hours 40 minutes" is "1 day"). So
  14 days and 13 days 23:59:59 are both "14 days", 13 days 11:59:59 is "13 days", 59.6 s is
  "1 minute". Exact: computed in whole microseconds, no floating point.
- **Counts** (:func:`counted`): a count and the form the language's plural rule asks for:
  "1 day", "0 days", "90 days", "1 ISV", "3 ISVs"; every count in words says it so.
- **Moments relative to now** (:func:`relative`): "in 14 days" ahead, "3 hours ago" behind,
  and "now" while the duration rounds to 0 seconds (less than half a second either way).
- **Date and time** (:func:`when`): "Wed 9 Dec 2026, 12:00 UTC" in the reader's time zone and
  language (``shared.wording.reader``), formatted by Babel from CLDR's data, the zone named
  (:func:`zone_words`); a datetime without a zone is taken as UTC.

Every word is a msgid read in the current reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from babel.dates import format_datetime, get_timezone_name
from babel.numbers import format_decimal

from shared.domain.roles import Role
from shared.domain.states import DeadlineKind
from shared.wording.reader import N_, Words, lazy_gettext, ngettext, plural, reader

# --- time ------------------------------------------------------------------------------------


class Unit(NamedTuple):
    """A unit of :func:`duration`: its msgids for one and for many (``{count}`` the number),
    its length in microseconds."""

    one: str
    many: str
    microseconds: int


#: Largest first: a duration is said in the first unit it reaches.
UNITS: tuple[Unit, ...] = (
    Unit(*plural("{count} day", "{count} days"), 86_400_000_000),
    Unit(*plural("{count} hour", "{count} hours"), 3_600_000_000),
    Unit(*plural("{count} minute", "{count} minutes"), 60_000_000),
    Unit(*plural("{count} second", "{count} seconds"), 1_000_000),
)
#: A moment ahead of now, behind it, and within half a second of it; ``{span}`` is a duration.
AHEAD = lazy_gettext("in {span}")
BEHIND = lazy_gettext("{span} ago")
NOW = lazy_gettext("now")
#: A moment's date and time, as a CLDR pattern (Unicode TR35 "Date Format Patterns"), that
#: the translation replaces with its language's order ("y年M月d日 HH:mm").
MOMENT_PATTERN = lazy_gettext("EEE d MMM y, HH:mm")
#: A moment and its time zone's name: ``{moment}`` from :data:`MOMENT_PATTERN`, ``{zone}``
#: from :func:`zone_words`.
MOMENT = lazy_gettext("{moment} {zone}")
#: A moment and how far it is: ``{moment}`` from :func:`when`, ``{relative}`` from :func:`relative`.
MOMENT_AND_DISTANCE = lazy_gettext("{moment} ({relative})")


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
    """``count`` things in the reader's language, the form its plural rule asks for
    (``ngettext``): ``one`` and ``many`` are msgids with ``{count}`` ("{count} ISV",
    "{count} ISVs"): "1 ISV", "3 ISVs", "0 days"; ``grouped`` writes the count with the
    locale's thousands separators ("2,500 deliveries")."""
    number = format_decimal(count, locale=reader().babel) if grouped else str(count)
    return ngettext(one, many, count).format(count=number)


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
    count, _unit = _rounded(delta)
    if count == 0:
        return str(NOW)
    return (AHEAD if delta > timedelta(0) else BEHIND).format(span=duration(delta))


def zone_words(moment: datetime) -> str:
    """The name of ``moment``'s time zone at that moment, in the reader's language: CLDR's
    abbreviation where the language has one of letters ("UTC", "EST"), else its long name
    ("China Standard Time", "中国标准时间", "Central European Summer Time" in summer)."""
    locale = reader().babel
    short = get_timezone_name(moment, "short", locale=locale)
    if short.isalpha():
        return short
    return get_timezone_name(moment, "long", locale=locale)


def when(moment: datetime) -> str:
    """``moment`` as a date and time for the reader, in their time zone and language, to the
    minute, with the zone named: "Wed 9 Dec 2026, 12:00 UTC", "2026年12月14日 12:56
    (中国标准时间)". A naive ``moment`` is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    current = reader()
    local = moment.astimezone(current.zone)
    text = format_datetime(local, str(MOMENT_PATTERN), tzinfo=current.zone, locale=current.babel)
    return MOMENT.format(moment=text, zone=zone_words(local))


def when_relative(moment: datetime, now: datetime) -> str:
    """A moment with how far it is: "Wed 9 Dec 2026, 12:00 UTC (in 14 days)"."""
    return MOMENT_AND_DISTANCE.format(moment=when(moment), relative=relative(moment, now))


#: Sizes: the largest unit that the size reaches, to one decimal above bytes.
SIZE_UNITS: tuple[tuple[str, int], ...] = (("MB", 1024 * 1024), ("KB", 1024))
SIZE_IN_BYTES = plural("{count} byte", "{count} bytes")
SIZE_IN_UNITS = "{count:.1f} {unit}"


def size_words(size: int) -> str:
    """A size in bytes for people: "512 bytes", "1.5 KB", "5.0 MB" (binary units, 1 KB =
    1024 bytes)."""
    for name, bytes_ in SIZE_UNITS:
        if size >= bytes_:
            return SIZE_IN_UNITS.format(count=size / bytes_, unit=name)
    return counted(size, *SIZE_IN_BYTES)


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
DEADLINES: Mapping[DeadlineKind, DeadlineWording] = Words(
    {
        DeadlineKind.CONFIRMATION_WINDOW: DeadlineWording(
            N_("Automatic confirmation"),
            N_("Confirmed automatically on {at}, unless you confirm or ask for changes first."),
            N_(
                "Confirmed automatically on {at}, unless the customer confirms or asks for "
                "changes first."
            ),
            N_(
                "The automatic confirmation is paused while the dispute is open; {left} will "
                "be left when it resumes."
            ),
        ),
        DeadlineKind.REMINDER: DeadlineWording(
            N_("Reminder"),
            N_("You get a reminder email on {at}."),
            N_("The customer gets a reminder email on {at}."),
            N_(
                "The reminder is paused while the dispute is open; {left} will be left when "
                "it resumes."
            ),
        ),
        DeadlineKind.WARRANTY: DeadlineWording(
            N_("Warranty ends"),
            N_(
                "The warranty ends on {at}; the delivery then completes. Until then you may "
                "ask for warranty service."
            ),
            N_("The warranty ends on {at}; the delivery then completes."),
            N_(
                "The warranty period is paused while the dispute is open; {left} will be left "
                "when it resumes."
            ),
        ),
    }
)
#: A paused deadline's value in a list of facts.
PAUSED_VALUE = lazy_gettext("paused, {left} left")


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
