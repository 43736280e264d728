"""The ISV's delivery-quality scorecard: one delivery's facts, a period's figures, and the
0–100 delivery score, from the history the engine already keeps (issue 18; the seed's
"ensures delivery quality and improves the ISV's product strength score").

Pure: no I/O. Three steps, each a function of the one before:

1. ``delivery_facts.facts_of`` reads one delivery's history into its ``DeliveryFacts``. The workflow
   computes them with every applied command and files them through the outbox (the read model
   in ``services.runtime.scorecards``); ``delivery-center scorecard rebuild`` recomputes them
   from the stored deliveries with the same function, so the two cannot disagree.
2. :func:`figures_of` sums the facts of the deliveries opened in a :class:`Period` (a cohort:
   every figure is about the deliveries opened in it, whatever happened to them since).
3. :func:`score_of` weighs five of the figures into the score (:data:`COMPONENTS`; the README's
   "Delivery score" writes the same formula out).

The definitions the figures use (ISV-owned state, time in a state, a stepwise stage,
confirmed by the customer or automatically, overdue) are written out in
``shared.domain.delivery_facts``, where the facts are read; the periods are
``shared.domain.score_periods``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from shared.domain.delivery_facts import ALL_ISV_OWNED_STATES, STEPWISE_STAGES, DeliveryFacts
from shared.domain.score_periods import Period
from shared.domain.states import TERMINAL_STATES, ProcessName


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
