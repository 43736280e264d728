"""How deadlines change with a delivery: opened on entering a state, paused while a dispute is
open, resumed under a new id when it is resolved; their durations come from ``Policy``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.delivery import Deadline, Delivery
from shared.domain.ids import deadline_id_for
from shared.domain.processes import PROCESSES
from shared.domain.states import DeadlineKind, State


@dataclass(frozen=True)
class Policy:
    """The durations the engine needs, from settings (``services.workflow.actors.policy_of``).

    ``confirm_window``: the customer's time to confirm (``DC_CONFIRM_WINDOW``; the brief: 14
    days by default). ``reminder_lead``: how long before the window closes the reminder is due
    (``DC_REMINDER_LEAD``; the brief: 3 days). Both whole seconds, positive.
    """

    confirm_window: timedelta
    reminder_lead: timedelta


def paused_deadline(deadline: Deadline, now: datetime) -> Deadline:
    """``deadline`` (active) stopped at ``now``: no due time, the seconds it had left kept."""
    assert deadline.due_at is not None
    remaining = max(0.0, (deadline.due_at - now).total_seconds())
    return deadline.model_copy(
        update={"status": "paused", "due_at": None, "remaining_seconds": remaining}
    )


def resumed_deadline(deadline: Deadline, now: datetime, deadline_id: str) -> Deadline:
    """``deadline`` (paused) running again from ``now`` for the seconds it had left, as a new
    run under ``deadline_id``."""
    remaining = timedelta(seconds=deadline.remaining_seconds or 0.0)
    return deadline.model_copy(
        update={
            "deadline_id": deadline_id,
            "status": "active",
            "due_at": now + remaining,
            "remaining_seconds": None,
        }
    )


def opened_deadlines(
    delivery: Delivery, state: State, version: int, now: datetime, policy: Policy
) -> list[Deadline]:
    """The deadlines ``delivery``'s process opens on entering ``state`` at ``now`` (the
    process table's ``deadlines``), each due after ``duration_of`` it."""
    opened = []
    for kind in PROCESSES[delivery.process].deadlines.get(state, ()):
        due_in = duration_of(delivery, kind, policy)
        if due_in is not None:
            opened.append(
                Deadline(
                    deadline_id=deadline_id_for(delivery.delivery_id, version, kind),
                    kind=kind,
                    status="active",
                    due_at=now + due_in,
                )
            )
    return opened


def duration_of(delivery: Delivery, kind: DeadlineKind, policy: Policy) -> timedelta | None:
    """How long a deadline of ``kind`` runs, or None when it is not worth opening: the
    confirmation window (14 days by default, the seed), the reminder that much less the lead,
    the warranty the delivery's own period."""
    if kind == DeadlineKind.CONFIRMATION_WINDOW:
        return policy.confirm_window
    if kind == DeadlineKind.REMINDER:
        # A reminder only makes sense if it comes before the automatic confirmation.
        lead = policy.confirm_window - policy.reminder_lead
        return lead if lead > timedelta(0) else None
    return timedelta(seconds=delivery.warranty_period_seconds or 0)
