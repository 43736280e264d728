"""Deadlines: open on entering a state, cancelled on leaving it, paused by disputes, fire once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.commands import ExpireDeadline, ResolveDispute
from shared.domain.delivery import Deadline
from shared.domain.engine import Policy, Reason
from shared.domain.processes import PROCESSES
from shared.domain.roles import Actor
from shared.domain.states import DeadlineKind, State

from .support import (
    ADMIN,
    CUSTOMER,
    ISV,
    POLICY,
    SYSTEM,
    WARRANTY,
    Walker,
    active_deadline,
    path_to,
    sample_command,
)

WINDOW, REMINDER, WARRANTY_KIND = (
    DeadlineKind.CONFIRMATION_WINDOW,
    DeadlineKind.REMINDER,
    DeadlineKind.WARRANTY,
)
ALL_PROCESSES = sorted(PROCESSES)


def _one(walker: Walker, kind: DeadlineKind) -> Deadline:
    found = [d for d in walker.delivery.deadlines if d.kind == kind]
    assert len(found) == 1, walker.delivery.deadlines
    return found[0]


def _into_confirmation(process: str, policy: Policy = POLICY) -> Walker:
    return Walker.at(process, State.AWAITING_CONFIRMATION, policy=policy)


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_entering_awaiting_confirmation_opens_window_and_reminder(process: str) -> None:
    walker = Walker(process)
    for row in path_to(walker.process, State.AWAITING_CONFIRMATION):
        assert walker.delivery.deadlines == []
        applied = walker.step(row)
    entered = walker.now
    window, reminder = _one(walker, WINDOW), _one(walker, REMINDER)
    assert window.status == reminder.status == "active"
    assert window.due_at == entered + POLICY.confirm_window
    assert reminder.due_at == entered + POLICY.confirm_window - POLICY.reminder_lead
    assert window.deadline_id != reminder.deadline_id
    assert set(applied.deadline_changes) == {window, reminder}


@pytest.mark.parametrize(
    ("window", "lead"),
    [(timedelta(seconds=10), timedelta(seconds=10)), (timedelta(seconds=5), timedelta(seconds=30))],
)
def test_no_reminder_when_the_lead_is_not_shorter_than_the_window(
    window: timedelta, lead: timedelta
) -> None:
    walker = _into_confirmation("basic", Policy(confirm_window=window, reminder_lead=lead))
    assert [d.kind for d in walker.delivery.deadlines] == [WINDOW]
    assert _one(walker, WINDOW).due_at == walker.now + window


def test_durations_down_to_seconds() -> None:
    policy = Policy(confirm_window=timedelta(seconds=30), reminder_lead=timedelta(seconds=10))
    walker = _into_confirmation("basic", policy)
    assert _one(walker, REMINDER).due_at == walker.now + timedelta(seconds=20)


@pytest.mark.parametrize("process", ALL_PROCESSES)
@pytest.mark.parametrize("leave_by", ["confirm", "request_changes"])
def test_leaving_cancels_them(process: str, leave_by: str) -> None:
    walker = _into_confirmation(process)
    before = {d.deadline_id for d in walker.delivery.deadlines}
    applied = walker.apply(sample_command(leave_by, walker.delivery), CUSTOMER)
    cancelled = {d.deadline_id for d in applied.deadline_changes if d.status == "cancelled"}
    assert cancelled == before
    assert not before & {d.deadline_id for d in walker.delivery.deadlines}
    if leave_by == "request_changes":
        assert walker.delivery.deadlines == []
        # Coming back opens fresh ones, with fresh ids.
        walker.walk_to(State.AWAITING_CONFIRMATION)
        again = {d.deadline_id for d in walker.delivery.deadlines}
        assert len(again) == 2 and not again & before


def test_in_warranty_opens_the_warranty_period() -> None:
    walker = _into_confirmation("double_check")
    applied = walker.apply(sample_command("confirm", walker.delivery), CUSTOMER)
    assert walker.delivery.state == State.IN_WARRANTY
    warranty = _one(walker, WARRANTY_KIND)
    assert warranty.due_at == walker.now + WARRANTY
    assert [d.kind for d in walker.delivery.deadlines] == [WARRANTY_KIND]
    assert warranty in applied.deadline_changes
    # Asking for service keeps the warranty running, unchanged.
    applied = walker.apply(sample_command("request_warranty_service", walker.delivery), CUSTOMER)
    assert walker.delivery.state == State.IN_WARRANTY
    assert walker.delivery.deadlines == [warranty] and applied.deadline_changes == ()
    assert applied.events[0].type == "warranty_service_requested"
    assert walker.delivery.warranty_requests[0].description == "the contact form is broken"
    # The second confirmation ends it.
    applied = walker.apply(sample_command("confirm_warranty", walker.delivery), CUSTOMER)
    assert walker.delivery.state == State.COMPLETED and walker.delivery.deadlines == []
    assert [(d.deadline_id, d.status) for d in applied.deadline_changes] == [
        (warranty.deadline_id, "cancelled")
    ]


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_window_expiry_confirms_for_the_customer(process: str) -> None:
    walker = _into_confirmation(process)
    window, reminder = _one(walker, WINDOW), _one(walker, REMINDER)
    applied = walker.apply(
        ExpireDeadline(deadline_id=window.deadline_id), SYSTEM, advance=timedelta(days=14)
    )
    expected = State.IN_WARRANTY if process == "double_check" else State.COMPLETED
    assert walker.delivery.state == expected
    (event,) = applied.events
    assert event.type == "auto_confirmed" and event.actor == SYSTEM
    changes = {d.deadline_id: d.status for d in applied.deadline_changes}
    assert changes[window.deadline_id] == "fired" and changes[reminder.deadline_id] == "cancelled"
    assert walker.delivery.stages[-1].reviews[-1].outcome == "auto_confirmed"
    if process == "double_check":
        warranty = _one(walker, WARRANTY_KIND)
        assert changes[warranty.deadline_id] == "active"
        applied = walker.apply(ExpireDeadline(deadline_id=warranty.deadline_id), SYSTEM)
        assert walker.delivery.state == State.COMPLETED
        assert applied.events[0].type == "warranty_expired"
        assert applied.deadline_changes == (warranty.model_copy(update={"status": "fired"}),)


def test_reminder_expiry_keeps_the_state_and_reminds() -> None:
    walker = _into_confirmation("basic")
    window, reminder = _one(walker, WINDOW), _one(walker, REMINDER)
    version = walker.delivery.version
    applied = walker.apply(ExpireDeadline(deadline_id=reminder.deadline_id), SYSTEM)
    assert walker.delivery.state == State.AWAITING_CONFIRMATION
    assert walker.delivery.version == version + 1
    assert walker.delivery.deadlines == [window], "the window runs on, unchanged"
    assert applied.deadline_changes == (reminder.model_copy(update={"status": "fired"}),)
    (event,) = applied.events
    assert event.type == "confirmation_reminder"
    assert event.delivery.deadlines == [window]
    entry = walker.delivery.history[-1]
    assert entry.from_state == entry.to_state == State.AWAITING_CONFIRMATION
    # No review: the customer has not answered yet.
    assert walker.delivery.stages[-1].reviews == []


@pytest.mark.parametrize("opener", [CUSTOMER, ISV])
def test_a_dispute_pauses_and_continue_resumes_with_the_time_left(opener: Actor) -> None:
    walker = _into_confirmation("basic")
    entered = walker.now
    window = _one(walker, WINDOW)
    applied = walker.apply(
        sample_command("open_dispute", walker.delivery), opener, advance=timedelta(days=5)
    )
    paused = {d.kind: d for d in walker.delivery.deadlines}
    assert paused[WINDOW].status == paused[REMINDER].status == "paused"
    assert paused[WINDOW].due_at is None
    assert (
        paused[WINDOW].remaining_seconds
        == (window.due_at - walker.now).total_seconds()
        == 9 * 86400
    )
    assert paused[REMINDER].remaining_seconds == 6 * 86400
    assert set(applied.deadline_changes) == set(paused.values())
    assert walker.now == entered + timedelta(days=5)

    # Twenty days of dispute do not count.
    applied = walker.apply(
        ResolveDispute(outcome="continue", note="go on"), ADMIN, advance=timedelta(days=20)
    )
    resumed = {d.kind: d for d in walker.delivery.deadlines}
    assert resumed[WINDOW].status == "active" and resumed[WINDOW].remaining_seconds is None
    assert resumed[WINDOW].due_at == walker.now + timedelta(days=9)
    assert resumed[REMINDER].due_at == walker.now + timedelta(days=6)
    assert walker.delivery.state == State.AWAITING_CONFIRMATION
    dispute = walker.delivery.dispute
    assert dispute is not None and (dispute.status, dispute.outcome, dispute.resolved_by) == (
        "resolved",
        "continue",
        ADMIN,
    )
    assert applied.events[0].type == "dispute_resolved"
    assert applied.events[0].data == {"outcome": "continue", "note": "go on"}

    # A resumed deadline is a new run of the timer: a new id, and the paused one is cancelled, so a
    # firing sent for the old run (in flight, or refused while the dispute was open) cannot fire it.
    changes = {d.deadline_id: d for d in applied.deadline_changes}
    for kind in (WINDOW, REMINDER):
        assert resumed[kind].deadline_id != paused[kind].deadline_id
        assert changes[paused[kind].deadline_id].status == "cancelled"
        assert changes[resumed[kind].deadline_id] == resumed[kind]
    refused = walker.refuse(ExpireDeadline(deadline_id=window.deadline_id), SYSTEM)
    assert refused.code == Reason.DEADLINE_NOT_ACTIVE
    walker.apply(ExpireDeadline(deadline_id=resumed[WINDOW].deadline_id), SYSTEM)
    assert walker.delivery.state == State.COMPLETED


def test_a_firing_refused_during_a_dispute_does_not_block_the_resumed_deadline() -> None:
    walker = _into_confirmation("basic")
    window = _one(walker, WINDOW)
    walker.apply(
        sample_command("open_dispute", walker.delivery), CUSTOMER, advance=timedelta(days=14)
    )
    late = walker.refuse(ExpireDeadline(deadline_id=window.deadline_id), SYSTEM)
    assert late.code == Reason.DISPUTE_OPEN
    walker.apply(ResolveDispute(outcome="continue"), ADMIN)
    resumed = _one(walker, WINDOW)
    assert resumed.due_at == walker.now, "it was already due: no time was left"
    assert resumed.deadline_id != window.deadline_id
    walker.apply(ExpireDeadline(deadline_id=resumed.deadline_id), SYSTEM)
    assert walker.delivery.state == State.COMPLETED


def test_warranty_pauses_too() -> None:
    walker = Walker.at("double_check", State.IN_WARRANTY)
    warranty = _one(walker, WARRANTY_KIND)
    walker.apply(sample_command("open_dispute", walker.delivery), ISV, advance=timedelta(days=10))
    assert (
        _one(walker, WARRANTY_KIND).remaining_seconds
        == (WARRANTY - timedelta(days=10)).total_seconds()
    )
    walker.apply(ResolveDispute(outcome="continue"), ADMIN, advance=timedelta(days=3))
    resumed = _one(walker, WARRANTY_KIND)
    assert resumed.due_at == warranty.due_at + timedelta(days=3)
    assert resumed.due_at == walker.now + WARRANTY - timedelta(days=10)


@pytest.mark.parametrize("how", ["resolve", "terminate"])
def test_terminating_a_dispute_cancels_the_paused_deadlines(how: str) -> None:
    walker = _into_confirmation("stepwise")
    walker.apply(sample_command("open_dispute", walker.delivery), CUSTOMER)
    paused = {d.deadline_id for d in walker.delivery.deadlines}
    assert len(paused) == 2
    if how == "resolve":
        command = ResolveDispute(outcome="terminate", note="refund")
    else:
        command = sample_command("terminate", walker.delivery)
    applied = walker.apply(command, ADMIN)
    assert walker.delivery.state == State.TERMINATED and walker.delivery.deadlines == []
    assert {d.deadline_id for d in applied.deadline_changes if d.status == "cancelled"} == paused
    dispute = walker.delivery.dispute
    assert dispute is not None and dispute.status == "resolved" and dispute.outcome == "terminate"
    assert dispute.resolved_by == ADMIN and dispute.resolved_at == walker.now
    expected_event = "dispute_resolved" if how == "resolve" else "delivery_terminated"
    assert applied.events[0].type == expected_event


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_an_expiry_that_lost_the_race_is_refused(process: str) -> None:
    walker = _into_confirmation(process)
    window, reminder = _one(walker, WINDOW), _one(walker, REMINDER)
    walker.apply(sample_command("confirm", walker.delivery), CUSTOMER, advance=timedelta(days=14))
    version = walker.delivery.version
    for deadline in (window, reminder):
        refused = walker.refuse(ExpireDeadline(deadline_id=deadline.deadline_id), SYSTEM)
        if walker.delivery.state == State.COMPLETED:
            assert refused.code == Reason.TERMINAL_STATE
        else:
            assert refused.code == Reason.DEADLINE_NOT_ACTIVE
    assert walker.delivery.version == version


def test_an_expiry_that_lost_the_race_mid_process_is_deadline_not_active() -> None:
    """The customer asked for changes before the window ran out: the delivery is not terminal."""
    walker = _into_confirmation("basic")
    window = _one(walker, WINDOW)
    walker.apply(sample_command("request_changes", walker.delivery), CUSTOMER)
    refused = walker.refuse(ExpireDeadline(deadline_id=window.deadline_id), SYSTEM)
    assert refused.code == Reason.DEADLINE_NOT_ACTIVE


def test_expiry_while_disputed_is_refused() -> None:
    walker = _into_confirmation("contract")
    window = _one(walker, WINDOW)
    walker.apply(sample_command("open_dispute", walker.delivery), ISV)
    refused = walker.refuse(ExpireDeadline(deadline_id=window.deadline_id), SYSTEM)
    assert refused.code == Reason.DISPUTE_OPEN


def test_deadline_ids_are_unique_across_a_long_life() -> None:
    walker = _into_confirmation("double_check")
    seen = {d.deadline_id for d in walker.delivery.deadlines}
    for _ in range(3):
        walker.apply(sample_command("open_dispute", walker.delivery), CUSTOMER)
        walker.apply(ResolveDispute(outcome="continue"), ADMIN)
        ids = {d.deadline_id for d in walker.delivery.deadlines}
        assert not ids & seen
        seen |= ids
        walker.run("request_changes", "finish")
        ids = {d.deadline_id for d in walker.delivery.deadlines}
        assert not ids & seen
        seen |= ids
    assert active_deadline(walker.delivery, WINDOW) is not None
