"""The words people read, in one place: the delivery pages, the emails and the CLI all say a
fact through this module, so the same instant, state or action reads the same everywhere.

Pure: no I/O, no clock (``now`` is always passed in). The words are data (tables and sentence
templates with named ``{placeholders}``), not f-strings spread over the services, so another
language is another set of these tables.

The rules:

- **Durations** (:func:`duration`): the largest unit of day, hour, minute, second that the
  duration reaches, rounded to the nearest whole number of it (a half rounds up); a rounding
  that reaches the next unit says that unit ("23 hours 40 minutes" is "1 day"). So
  14 days and 13 days 23:59:59 are both "14 days", 13 days 11:59:59 is "13 days", 59.6 s is
  "1 minute". Exact: computed in whole microseconds, no floating point.
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
from typing import NamedTuple

from shared.domain.roles import Role
from shared.domain.states import DeadlineKind, ProcessName, State

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


def duration(delta: timedelta) -> str:
    """``delta`` (its size; the sign is ignored) in words: "14 days", "1 hour", "0 seconds".

    Rounded to the nearest whole of the largest unit it reaches (see the module's rules)."""
    count, unit = _rounded(delta)
    return AMOUNT.format(count=count, unit=unit.one if count == 1 else unit.many)


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


# --- names -----------------------------------------------------------------------------------

#: Each state's name: the steps of the page, the state in emails, the admin list, the CLI.
STATE_LABELS: Mapping[State, str] = {
    State.AWAITING_DEMAND: "Submit demand",
    State.AWAITING_CONTRACT: "Contract",
    State.IN_DELIVERY: "Delivery",
    State.FUNCTIONAL_DESIGN: "Functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "Confirm functional design",
    State.UED: "User experience design",
    State.CONFIRM_UED: "Confirm UED",
    State.DEVELOPMENT_TESTING: "Development and testing",
    State.INSPECTION_ACCEPTANCE: "Inspection and acceptance",
    State.AWAITING_CONFIRMATION: "Confirm delivery",
    State.IN_WARRANTY: "Warranty",
    State.COMPLETED: "Completed",
    State.TERMINATED: "Terminated",
}
#: What is worked on or reviewed in each state, inside a sentence ("finished {stage}").
STAGES: Mapping[State, str] = {
    State.AWAITING_DEMAND: "the demands",
    State.AWAITING_CONTRACT: "the contract",
    State.IN_DELIVERY: "the delivery",
    State.FUNCTIONAL_DESIGN: "the functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "the functional design",
    State.UED: "the UED (user experience design)",
    State.CONFIRM_UED: "the UED (user experience design)",
    State.DEVELOPMENT_TESTING: "development and testing",
    State.INSPECTION_ACCEPTANCE: "the result of development and testing",
    State.AWAITING_CONFIRMATION: "the delivery",
    State.IN_WARRANTY: "the warranty",
    State.COMPLETED: "the delivery",
    State.TERMINATED: "the delivery",
}
PROCESS_LABELS: Mapping[ProcessName, str] = {
    ProcessName.BASIC: "Basic delivery",
    ProcessName.DOUBLE_CHECK: "Delivery with double check (warranty)",
    ProcessName.CONTRACT: "Delivery with a signed contract",
    ProcessName.STEPWISE: "Step-by-step implementation and confirmation",
}
#: Each role inside a sentence; :func:`sentence_start` capitalises it at the start of one.
ROLE_NAMES: Mapping[Role, str] = {
    Role.CUSTOMER: "the customer",
    Role.ISV: "the ISV",
    Role.ADMIN: "an administrator",
    Role.MARKETPLACE: "the marketplace",
    Role.SYSTEM: "Delivery Center",
}


#: The reader, for what they did themselves ("you confirmed").
YOU = "you"


def sentence_start(words: str) -> str:
    """``words`` with its first letter upper case ("the ISV" -> "The ISV")."""
    return words[:1].upper() + words[1:]


def label(table: Mapping[str, str], value: str | None) -> str:
    """``value``'s words from ``table``, or ``value`` itself when the table has none (a name
    stored by an older version)."""
    return table.get(value or "", value or "")


# --- actions and tasks -----------------------------------------------------------------------


class ActionWords(NamedTuple):
    """How a page offers one command (:data:`ACTIONS`)."""

    #: The heading of its form.
    title: str
    #: The label of its button.
    button: str


#: Each command a page offers: its form's title and button.
ACTIONS: Mapping[str, ActionWords] = {
    "submit_demand": ActionWords("Submit your demands", "Submit the demands"),
    "upload_contract": ActionWords("Upload the contract", "Upload the contract"),
    "finish": ActionWords("Finish this step", "Finish"),
    "confirm": ActionWords("Confirm", "Confirm"),
    "request_changes": ActionWords("Ask for changes", "Ask for changes"),
    "request_warranty_service": ActionWords("Ask for warranty service", "Ask for warranty service"),
    "confirm_warranty": ActionWords("Confirm the warranty", "Confirm the warranty"),
    "open_dispute": ActionWords("Open a dispute", "Open a dispute"),
    "resolve_dispute": ActionWords("Resolve the dispute", "Resolve the dispute"),
    "terminate": ActionWords("Terminate the delivery", "Terminate"),
}
#: What each command did, after who did it ("the customer confirmed").
DONE: Mapping[str, str] = {
    "open_delivery": "opened the delivery",
    "submit_demand": "submitted the demands",
    "upload_contract": "uploaded the contract",
    "finish": "finished the step",
    "confirm": "confirmed",
    "request_changes": "asked for changes",
    "request_warranty_service": "asked for warranty service",
    "confirm_warranty": "confirmed the warranty",
    "open_dispute": "opened a dispute",
    "resolve_dispute": "resolved the dispute",
    "terminate": "terminated the delivery",
    "expire_deadline": "let a deadline run out",
}
#: What whoever must act in a state is asked to do: the page's "Your turn: ..." and the
#: email's "Please ...".
TASKS: Mapping[State, str] = {
    State.AWAITING_DEMAND: "submit your demands and your contact details (name, phone and email)",
    State.AWAITING_CONTRACT: "upload the contract signed with the customer",
    State.IN_DELIVERY: "deliver the service, then press Finish",
    State.FUNCTIONAL_DESIGN: (
        "write the functional design (features, architecture) and submit it with Finish"
    ),
    State.CONFIRM_FUNCTIONAL_DESIGN: "review the functional design: confirm it, or ask for changes",
    State.UED: "submit the UED (user experience design) with Finish",
    State.CONFIRM_UED: "review the UED: confirm it, or ask for changes",
    State.DEVELOPMENT_TESTING: "develop and test the website, then press Finish",
    State.INSPECTION_ACCEPTANCE: "inspect the website: accept it, or ask for changes",
    State.AWAITING_CONFIRMATION: "confirm the delivery, or ask for changes",
    State.IN_WARRANTY: (
        "confirm the warranty if everything works as agreed, or ask for warranty service if "
        "something is wrong"
    ),
}
#: What the others wait for in a state: "Waiting for the customer {to}".
WAITING_FOR: Mapping[State, str] = {
    State.AWAITING_DEMAND: "to submit the demands",
    State.AWAITING_CONTRACT: "to upload the contract",
    State.IN_DELIVERY: "to deliver the service",
    State.FUNCTIONAL_DESIGN: "to submit the functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "to confirm the functional design",
    State.UED: "to submit the user experience design",
    State.CONFIRM_UED: "to confirm the user experience design",
    State.DEVELOPMENT_TESTING: "to develop and test the website",
    State.INSPECTION_ACCEPTANCE: "to inspect and accept the website",
    State.AWAITING_CONFIRMATION: "to confirm the delivery",
    State.IN_WARRANTY: "to confirm the warranty",
}
#: Tasks that an event gives rather than a state.
RESOLVE_DISPUTE_TASK = (
    "review the dispute and resolve it (let the delivery continue, or terminate it)"
)
WARRANTY_SERVICE_TASK = "provide the warranty service the customer describes below"
#: A task as the email asks it, and as the page tells it to whoever must act.
PLEASE = "Please {task}."
YOUR_TURN = "Your turn: {task}."


#: What happens now, as the delivery page's banner says it.
COMPLETED_NOTE = "This delivery is completed. Nothing more is needed."
TERMINATED_NOTE = "This delivery was terminated by an administrator. Nothing more can be done."
DISPUTE_NOTE = "A dispute is open. " + YOUR_TURN.format(task=RESOLVE_DISPUTE_TASK)
DISPUTE_WAIT_NOTE = (
    "A dispute is open: an administrator will resolve it. Until then nobody else acts, and "
    "the deadlines are paused."
)
#: ``{who}``: the roles that must act, joined by ``OR``; ``{what}``: ``WAITING_FOR[state]``.
WAITING_NOTE = "Waiting for {who} {what}."
OR = " or "
#: An actor that was not recorded.
SOMEONE = "someone"


def please(task: str) -> str:
    """A task as an email asks it: "Please confirm the delivery, or ask for changes."."""
    return PLEASE.format(task=task)


def your_turn(task: str) -> str:
    """A task as the page tells it: "Your turn: confirm the delivery, or ask for changes."."""
    return YOUR_TURN.format(task=task)


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


def deadline_words(
    kind: DeadlineKind,
    reader: Role,
    now: datetime,
    *,
    due_at: datetime | None,
    remaining: timedelta | None = None,
) -> DeadlineWords:
    """A running deadline (``due_at`` given) or a paused one (``due_at`` None, ``remaining``
    left, None counting as nothing), worded for ``reader``. A naive ``due_at`` is taken as UTC.
    Raises ValueError for an unknown kind."""
    wording = DEADLINES[DeadlineKind(kind)]
    if due_at is None:
        left = duration(remaining or timedelta(0))
        return DeadlineWords(
            wording.label, PAUSED_VALUE.format(left=left), wording.paused.format(left=left)
        )
    if due_at.tzinfo is None and now.tzinfo is not None:
        due_at = due_at.replace(tzinfo=UTC)
    at = when_relative(due_at, now)
    template = wording.due_for_customer if reader == Role.CUSTOMER else wording.due
    return DeadlineWords(wording.label, at, template.format(at=at))
