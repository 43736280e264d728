"""The ISV's delivery-quality scorecard: one delivery's facts, a period's figures, and the
0–100 delivery score, from the history the engine already keeps (issue 18; the seed's
"ensures delivery quality and improves the ISV's product strength score").

Pure: no I/O. Three steps, each a function of the one before:

1. :func:`facts_of` reads one delivery's history into its :class:`DeliveryFacts`. The workflow
   computes them with every applied command and files them through the outbox (the read model
   in ``services.runtime.scorecards``); ``delivery-center scorecard rebuild`` recomputes them
   from the stored deliveries with the same function, so the two cannot disagree.
2. :func:`figures_of` sums the facts of the deliveries opened in a :class:`Period` (a cohort:
   every figure is about the deliveries opened in it, whatever happened to them since).
3. :func:`score_of` weighs five of the figures into the score (:data:`COMPONENTS`; the README's
   "Delivery score" writes the same formula out).

Definitions, used throughout:

- *ISV-owned state*: a state of a process where only the ISV may move the delivery on
  (``processes.next_actors`` is ``{isv}``): ``in_delivery``, ``awaiting_contract``,
  ``functional_design``, ``ued``, ``development_testing``.
- *Time in a state*: per delivery, the seconds spent in it over every visit that ended (the
  visit still running is not counted yet), less any time a dispute was open; the history's
  times are taken to the millisecond, as the database keeps them. Percentiles are
  taken over deliveries: the median (:func:`statistics.median`) and the 90th percentile by the
  nearest-rank method (the value at rank ⌈0.9·n⌉ of the sorted values).
- *A stepwise stage*: from first entering its work state (``functional_design``, ``ued``,
  ``development_testing``) to the customer's confirmation that leaves its review state, less
  dispute time; revision rounds inside it count towards it.
- *Confirmed by the customer vs automatically*: how a completed delivery's last confirmation
  (the one leaving ``awaiting_confirmation``) happened: the customer's ``confirm``, or the
  confirmation window running out (``expire_deadline``). A ``double_check`` delivery is judged
  by that confirmation too, not by how its warranty ended.
- *Overdue*: a delivery waited on the ISV (one visit to an ISV-owned state, dispute time not
  counted) for longer than the *patience*, the confirmation window (``DC_CONFIRM_WINDOW``),
  which is also when the admin list calls a delivery overdue. A visit still running counts
  from its start to now.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.delivery import Delivery
from shared.domain.processes import PROCESSES, STEPWISE, next_actors
from shared.domain.roles import ACTOR_ID_RULE, Role, actor_id_problem
from shared.domain.states import TERMINAL_STATES, ProcessName, State

#: The states of each process where only the ISV moves the delivery on.
ISV_OWNED_STATES: Mapping[ProcessName, frozenset[State]] = {
    name: frozenset(state for state in process.states if next_actors(process, state) == {Role.ISV})
    for name, process in PROCESSES.items()
}
#: Every ISV-owned state of any process, in the order the states are declared.
ALL_ISV_OWNED_STATES: tuple[State, ...] = tuple(
    state for state in State if any(state in owned for owned in ISV_OWNED_STATES.values())
)
#: The stepwise process's stages: each work state (the ISV's) and the review state its
#: ``finish`` leads to, in process order.
STEPWISE_STAGES: tuple[tuple[State, State], ...] = tuple(
    (row.state, row.to)
    for row in STEPWISE.rows
    if row.command == "finish" and row.state in ISV_OWNED_STATES[ProcessName.STEPWISE]
)
#: The period a scorecard covers when none is asked for: the last 90 days, today included.
DEFAULT_PERIOD_DAYS = 90
#: The longest period a scorecard covers, in days (ten years).
MAX_PERIOD_DAYS = 3660

ConfirmedBy = Literal["customer", "automatic"]


class DeliveryFacts(BaseModel):
    """What one delivery's history says about its ISV's delivery quality, as of ``version``.

    Times are seconds (floats); ``isv_waiting_since`` is aware UTC, set while the delivery
    waits on the ISV without an open dispute.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    isv_id: str
    process: ProcessName
    opened_at: datetime
    #: The delivery's version these facts were read at: a newer version replaces them.
    version: int = Field(ge=1)
    state: State
    confirmed_by: ConfirmedBy | None = None
    disputed: bool = False
    terminated_after_dispute: bool = False
    revision_rounds: int = 0
    warranty_requests: int = 0
    #: Per ISV-owned state (its value), the seconds of every visit that ended.
    seconds_in_state: dict[str, float] = Field(default_factory=dict)
    #: Per stepwise stage (its work state's value), the seconds of a stage that ended.
    seconds_in_stage: dict[str, float] = Field(default_factory=dict)
    #: The longest visit to an ISV-owned state that ended, in seconds.
    longest_isv_wait_seconds: float = 0.0
    #: The running visit to an ISV-owned state: seconds counted up to its last change.
    isv_wait_seconds: float = 0.0
    #: When the running visit's clock last started (None: not waiting on the ISV, or paused).
    isv_waiting_since: datetime | None = None

    @property
    def completed(self) -> bool:
        """Whether the delivery completed."""
        return self.state == State.COMPLETED

    @property
    def terminated(self) -> bool:
        """Whether the delivery was terminated."""
        return self.state == State.TERMINATED

    def went_overdue(self, now: datetime, patience: timedelta) -> bool:
        """Whether it waited on the ISV for longer than ``patience`` in one visit (the module's
        *Overdue*), the running visit counted up to ``now`` (aware)."""
        running = self.isv_wait_seconds
        if self.isv_waiting_since is not None:
            running += max(0.0, (now - self.isv_waiting_since).total_seconds())
        return max(self.longest_isv_wait_seconds, running) > patience.total_seconds()


def _kept(moment: datetime) -> datetime:
    """``moment`` to the millisecond, as the database keeps it (BSON dates are milliseconds):
    the facts the workflow reads from a delivery it has just changed (its newest entry still
    to the microsecond) are then those a rebuild reads from the stored delivery."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def _dispute_spans(delivery: Delivery) -> list[tuple[datetime, datetime | None]]:
    """When disputes were open: ``(opened, closed)``, ``closed`` None while one is open."""
    spans: list[tuple[datetime, datetime | None]] = []
    for entry in delivery.history:
        if entry.command == "open_dispute":
            spans.append((_kept(entry.at), None))
        elif (
            spans
            and spans[-1][1] is None
            and (entry.command == "resolve_dispute" or entry.to_state == State.TERMINATED)
        ):
            spans[-1] = (spans[-1][0], _kept(entry.at))
    return spans


def _seconds(
    start: datetime, end: datetime, spans: Sequence[tuple[datetime, datetime | None]]
) -> float:
    """Seconds from ``start`` to ``end`` that no dispute span covers."""
    paused = 0.0
    for opened, closed in spans:
        overlap = min(end, closed or end) - max(start, opened)
        paused += max(0.0, overlap.total_seconds())
    return max(0.0, (end - start).total_seconds() - paused)


def facts_of(delivery: Delivery) -> DeliveryFacts:
    """The scorecard facts of ``delivery``, read from its history (the module's definitions).

    Parameters:
      delivery(Delivery): Any delivery the engine made (its history starts with the opening).

    Returns:
      DeliveryFacts: At ``delivery.version``; the same delivery gives the same facts, and so
      does the delivery read back from the database (times to the millisecond).
    """
    owned = ISV_OWNED_STATES[delivery.process]
    spans = _dispute_spans(delivery)
    in_state: Counter[str] = Counter()
    in_stage: dict[str, float] = {}
    stage_started: dict[State, datetime] = {}
    review_of = dict(STEPWISE_STAGES) if delivery.process == ProcessName.STEPWISE else {}
    work_of = {review: work for work, review in review_of.items()}
    longest = 0.0
    confirmed_by: ConfirmedBy | None = None
    revision_rounds = warranty_requests = 0
    disputed = terminated_after_dispute = False
    visit_start = _kept(delivery.history[0].at)
    for entry in delivery.history:
        if entry.command == "request_changes":
            revision_rounds += 1
        elif entry.command == "request_warranty_service":
            warranty_requests += 1
        elif entry.command == "open_dispute":
            disputed = True
        if entry.to_state == State.TERMINATED and disputed:
            terminated_after_dispute = True
        if entry.from_state == State.AWAITING_CONFIRMATION and entry.to_state in (
            State.COMPLETED,
            State.IN_WARRANTY,
        ):
            confirmed_by = "automatic" if entry.command == "expire_deadline" else "customer"
        if entry.from_state is None or entry.from_state == entry.to_state:
            continue
        left = entry.from_state
        if left in owned:
            seconds = _seconds(visit_start, _kept(entry.at), spans)
            in_state[left.value] += seconds
            longest = max(longest, seconds)
        if left in work_of and entry.command == "confirm":
            work = work_of[left]
            if work.value not in in_stage and work in stage_started:
                in_stage[work.value] = _seconds(stage_started[work], _kept(entry.at), spans)
        if entry.to_state in review_of:
            stage_started.setdefault(entry.to_state, _kept(entry.at))
        visit_start = _kept(entry.at)
    running, since = 0.0, None
    if delivery.state in owned:
        last = _kept(delivery.history[-1].at)
        running = _seconds(visit_start, last, spans)
        since = None if delivery.dispute_open else last
    return DeliveryFacts(
        delivery_id=delivery.delivery_id,
        isv_id=delivery.isv_id,
        process=delivery.process,
        opened_at=_kept(delivery.opened_at),
        version=delivery.version,
        state=delivery.state,
        confirmed_by=confirmed_by,
        disputed=disputed,
        terminated_after_dispute=terminated_after_dispute,
        revision_rounds=revision_rounds,
        warranty_requests=warranty_requests,
        seconds_in_state=dict(in_state),
        seconds_in_stage=in_stage,
        longest_isv_wait_seconds=longest,
        isv_wait_seconds=running,
        isv_waiting_since=since,
    )


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
    shown = repr(isv_id[:60]) + ("…" if len(isv_id) > 60 else "")
    return f"no ISV can have the id {shown}: an ISV id is {ACTOR_ID_RULE}"


def day_key(moment: datetime) -> str:
    """``"2026-11-30"``: the UTC day of ``moment`` (aware), as the read model groups facts."""
    return moment.astimezone(UTC).date().isoformat()


class Spread(BaseModel):
    """How long deliveries took: ``count`` deliveries, their median and 90th percentile
    (nearest rank), in seconds."""

    model_config = ConfigDict(frozen=True)

    count: int
    median_seconds: float
    p90_seconds: float


def spread_of(values: Iterable[float]) -> Spread | None:
    """The :class:`Spread` of ``values`` (seconds); None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(0.9 * len(ordered))
    return Spread(
        count=len(ordered),
        median_seconds=statistics.median(ordered),
        p90_seconds=ordered[rank - 1],
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


class Figures(BaseModel):
    """A period's figures for one ISV (or the whole marketplace): every count is of deliveries
    opened in the period; shares are 0–1 and None when nothing they divide by happened."""

    model_config = ConfigDict(frozen=True)

    opened: int
    completed: int
    terminated: int
    #: Deliveries still open, per state (the state's value).
    open_by_state: dict[str, int]
    confirmed_by_customer: int
    confirmed_automatically: int
    #: Of the completed deliveries, the share the customer confirmed.
    customer_confirmation_share: float | None
    time_in_state: dict[str, Spread]
    time_in_stage: dict[str, Spread]
    revision_rounds: int
    revision_rounds_per_delivery: float | None
    warranty_requests: int
    completed_warranty_deliveries: int
    #: Warranty service requests per completed ``double_check`` delivery.
    warranty_requests_per_warranty_delivery: float | None
    disputed: int
    dispute_rate: float | None
    terminated_after_dispute: int
    overdue: int
    overdue_share: float | None


def figures_of(facts: Iterable[DeliveryFacts], now: datetime, patience: timedelta) -> Figures:
    """The figures of ``facts`` (the deliveries opened in a period) at ``now``.

    Parameters:
      facts(Iterable[DeliveryFacts]): One per delivery; the caller picks the period's.
      now(datetime): Aware; a running wait on the ISV counts up to it.
      patience(timedelta): How long a wait on the ISV may last before it is overdue.
    """
    facts = list(facts)
    completed = [f for f in facts if f.completed]
    by_customer = sum(1 for f in completed if f.confirmed_by == "customer")
    by_clock = sum(1 for f in completed if f.confirmed_by == "automatic")
    warranty_done = [f for f in completed if f.process == ProcessName.DOUBLE_CHECK]
    in_state = {
        state.value: spread
        for state in ALL_ISV_OWNED_STATES
        if (
            spread := spread_of(
                f.seconds_in_state[state] for f in facts if state in f.seconds_in_state
            )
        )
    }
    in_stage = {
        work.value: spread
        for work, _ in STEPWISE_STAGES
        if (
            spread := spread_of(
                f.seconds_in_stage[work] for f in facts if work in f.seconds_in_stage
            )
        )
    }
    rounds = sum(f.revision_rounds for f in facts)
    disputed = sum(1 for f in facts if f.disputed)
    overdue = sum(1 for f in facts if f.went_overdue(now, patience))
    return Figures(
        opened=len(facts),
        completed=len(completed),
        terminated=sum(1 for f in facts if f.terminated),
        open_by_state=dict(
            sorted(Counter(f.state.value for f in facts if f.state not in TERMINAL_STATES).items())
        ),
        confirmed_by_customer=by_customer,
        confirmed_automatically=by_clock,
        customer_confirmation_share=_share(by_customer, by_customer + by_clock),
        time_in_state=in_state,
        time_in_stage=in_stage,
        revision_rounds=rounds,
        revision_rounds_per_delivery=_share(rounds, len(facts)),
        warranty_requests=sum(f.warranty_requests for f in warranty_done),
        completed_warranty_deliveries=len(warranty_done),
        warranty_requests_per_warranty_delivery=_share(
            sum(f.warranty_requests for f in warranty_done), len(warranty_done)
        ),
        disputed=disputed,
        dispute_rate=_share(disputed, len(facts)),
        terminated_after_dispute=sum(1 for f in facts if f.terminated_after_dispute),
        overdue=overdue,
        overdue_share=_share(overdue, len(facts)),
    )


@dataclass(frozen=True)
class Component:
    """One part of the score: its ``weight`` (points of 100 when every part applies), what it
    rewards, and how it reads its 0–1 value from the figures (None: it does not apply)."""

    name: str
    weight: int
    rewards: str


#: The score's parts, in the order shown; the weights add up to 100.
COMPONENTS: tuple[Component, ...] = (
    Component("customer_confirmation", 30, "completed deliveries the customer confirmed"),
    Component("no_disputes", 20, "deliveries without a dispute"),
    Component("on_time", 20, "deliveries that never waited on the ISV past the patience"),
    Component("first_time_right", 15, "few revision rounds and warranty service requests"),
    Component("completion", 15, "deliveries that completed rather than were terminated"),
)
#: Revision rounds plus warranty requests per delivery at which ``first_time_right`` is 0.
REWORK_FOR_ZERO = 2.0


def component_values(figures: Figures) -> dict[str, float | None]:
    """Each component's value from 0 to 1 (None where it does not apply):

    - ``customer_confirmation``: ``customer_confirmation_share`` (None: nothing completed);
    - ``no_disputes``: 1 − ``dispute_rate``;
    - ``on_time``: 1 − ``overdue_share``;
    - ``first_time_right``: max(0, 1 − rework / :data:`REWORK_FOR_ZERO`), rework being
      ``revision_rounds_per_delivery`` + ``warranty_requests_per_warranty_delivery`` (0 when
      no warranty delivery completed);
    - ``completion``: completed / (completed + terminated) (None: none finished).

    All are None when no delivery was opened.
    """
    if not figures.opened:
        return {component.name: None for component in COMPONENTS}
    rework = (figures.revision_rounds_per_delivery or 0.0) + (
        figures.warranty_requests_per_warranty_delivery or 0.0
    )
    finished = figures.completed + figures.terminated
    return {
        "customer_confirmation": figures.customer_confirmation_share,
        "no_disputes": 1 - (figures.dispute_rate or 0.0),
        "on_time": 1 - (figures.overdue_share or 0.0),
        "first_time_right": max(0.0, 1 - rework / REWORK_FOR_ZERO),
        "completion": _share(figures.completed, finished),
    }


class Contribution(BaseModel):
    """One component's part of the score: its ``value`` (0–1), the ``points`` it earned and
    the ``max_points`` it could have (both of 100, after the weights of the components that
    apply are scaled to 100); None where it does not apply."""

    model_config = ConfigDict(frozen=True)

    name: str
    rewards: str
    weight: int
    value: float | None
    points: float | None
    max_points: float | None


class Score(BaseModel):
    """The delivery score: ``total`` from 0 to 100 (one decimal; None when the period has no
    delivery), the sum of the ``components``' points."""

    model_config = ConfigDict(frozen=True)

    total: float | None
    components: list[Contribution]


def score_of(figures: Figures) -> Score:
    """The delivery score of ``figures`` (the README's "Delivery score").

    ``score = 100 × Σ weightᵢ·valueᵢ / Σ weightᵢ`` over the components that apply
    (:func:`component_values`): a component without data neither helps nor hurts. Each
    component's points are its term of that sum, so they add up to the total.
    """
    values = component_values(figures)
    applicable = sum(c.weight for c in COMPONENTS if values[c.name] is not None)
    parts: list[Contribution] = []
    total = 0.0
    for component in COMPONENTS:
        value = values[component.name]
        points = max_points = None
        if value is not None:
            max_points = 100 * component.weight / applicable
            points = max_points * value
            total += points
        parts.append(
            Contribution(
                name=component.name,
                rewards=component.rewards,
                weight=component.weight,
                value=value,
                points=None if points is None else round(points, 1),
                max_points=None if max_points is None else round(max_points, 1),
            )
        )
    return Score(total=round(total, 1) if applicable else None, components=parts)


class Scorecard(BaseModel):
    """One ISV's (or, with ``isv_id`` None, the marketplace's) scorecard for a period: the
    figures and the score, and the previous period's score for the trend."""

    model_config = ConfigDict(frozen=True)

    isv_id: str | None
    first_day: date
    last_day: date
    figures: Figures
    score: Score
    previous_score: float | None


def scorecard_of(
    isv_id: str | None,
    period: Period,
    facts: Iterable[DeliveryFacts],
    now: datetime,
    patience: timedelta,
) -> Scorecard:
    """The scorecard of ``period`` from ``facts`` covering at least it and its previous
    period (others are ignored).

    Parameters:
      isv_id(str | None): Whose; None for the marketplace as a whole.
      period(Period): The days whose openings count.
      facts(Iterable[DeliveryFacts]): The ISV's facts of both periods (or more).
      now(datetime): Aware; for running waits.
      patience(timedelta): The confirmation window (the module's *Overdue*).
    """
    facts = list(facts)
    previous = period.previous()
    figures = figures_of([f for f in facts if period.contains(f.opened_at)], now, patience)
    before = figures_of([f for f in facts if previous.contains(f.opened_at)], now, patience)
    return Scorecard(
        isv_id=isv_id,
        first_day=period.first,
        last_day=period.last,
        figures=figures,
        score=score_of(figures),
        previous_score=score_of(before).total,
    )


def score_trend(
    facts: Iterable[DeliveryFacts], periods: Sequence[Period], now: datetime, patience: timedelta
) -> list[tuple[Period, float | None]]:
    """The score of each of ``periods`` (for the trend chart), in the order given."""
    facts = list(facts)
    return [
        (
            p,
            score_of(
                figures_of([f for f in facts if p.contains(f.opened_at)], now, patience)
            ).total,
        )
        for p in periods
    ]
