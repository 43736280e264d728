"""One delivery's facts for the ISV's scorecard, read from the history the engine keeps
(issue 18): how its last confirmation happened, its rework, disputes and the time it spent
in each ISV-owned state (:func:`facts_of`, :class:`DeliveryFacts`).

The workflow computes them with every applied command and files them through the outbox (the
read model in ``services.runtime.scorecards``); ``delivery-center scorecard rebuild``
recomputes them from the stored deliveries with the same function, so the two cannot
disagree. ``shared.domain.scorecard`` sums them into figures and the score.

Pure: no I/O.

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

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.delivery import Delivery
from shared.domain.processes import PROCESSES, STEPWISE, next_actors
from shared.domain.roles import Role
from shared.domain.states import ProcessName, State

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
