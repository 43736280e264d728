"""Property-based: random commands from random actors at advancing times, on every process.

Each step is checked against an oracle built only from the process tables and the brief's
rules (may this actor do this now?), and the delivery is checked for its invariants.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as observe
from hypothesis import strategies as st

from shared.domain.commands import (
    PUBLIC_DELIVERY_COMMANDS,
    Confirm,
    ConfirmWarranty,
    ExpireDeadline,
    Finish,
    OpenDispute,
    RequestChanges,
    RequestWarrantyService,
    ResolveDispute,
    SubmitDemand,
    Terminate,
    UploadContract,
)
from shared.domain.delivery import Delivery
from shared.domain.engine import Applied, Policy, Reason, Refused, decide
from shared.domain.files import FileFacts, contract_problem
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, Process
from shared.domain.roles import Actor, Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind, State

from .support import (
    ALL_ACTORS,
    BOGUS_DEADLINE_ID,
    CONTACT,
    CONTRACT_ID,
    DELIVERABLE_ID,
    PARTY,
    SPEC_ID,
    Walker,
    in_order,
)

UNKNOWN_ID = "e" * 32
XLS_ID = "d" * 32
ALL_KINDS = sorted(PUBLIC_DELIVERY_COMMANDS | {"expire_deadline"})
#: Off the table, every kind is drawn, but ending the delivery less often, so walks go deep.
DRAWN_KINDS = [kind for kind in ALL_KINDS for _ in range(1 if kind == "terminate" else 3)]
#: The role that sends each process command (one per command in every table).
ROLE_OF = {row.command: row.role for p in PROCESSES.values() for row in p.rows}
SINGLE_KINDS = (DeadlineKind.CONFIRMATION_WINDOW, DeadlineKind.WARRANTY)

_blank = st.text(alphabet=" \n\t", max_size=2)
#: Non-blank text, with the surrounding whitespace the models strip.
texts = st.tuples(_blank, st.text(alphabet="abxyz-", min_size=1, max_size=8), _blank).map("".join)
attachment_lists = st.lists(st.sampled_from([SPEC_ID, DELIVERABLE_ID, UNKNOWN_ID]), max_size=3)
seconds = st.one_of(
    st.integers(0, 3600), st.integers(0, 3 * 86400), st.integers(0, 40 * 86400)
).map(lambda s: timedelta(seconds=s))
policies = st.builds(
    Policy,
    confirm_window=st.integers(1, 20 * 86400).map(lambda s: timedelta(seconds=s)),
    reminder_lead=st.integers(1, 20 * 86400).map(lambda s: timedelta(seconds=s)),
)

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


def command_strategy(kind: str, deadline_ids: list[str]) -> st.SearchStrategy[Any]:
    if kind == "submit_demand":
        return st.builds(
            SubmitDemand, contact=st.just(CONTACT), demands=texts, attachments=attachment_lists
        )
    if kind == "upload_contract":
        return st.builds(
            UploadContract, attachment=st.sampled_from([CONTRACT_ID, SPEC_ID, XLS_ID, UNKNOWN_ID])
        )
    if kind == "finish":
        return st.builds(Finish, note=st.none() | texts, attachments=attachment_lists)
    if kind == "confirm":
        return st.just(Confirm())
    if kind == "request_changes":
        return st.builds(RequestChanges, reason=texts)
    if kind == "request_warranty_service":
        return st.builds(RequestWarrantyService, description=texts)
    if kind == "confirm_warranty":
        return st.just(ConfirmWarranty())
    if kind == "open_dispute":
        return st.builds(OpenDispute, reason=texts)
    if kind == "resolve_dispute":
        return st.builds(
            ResolveDispute,
            outcome=st.sampled_from(["continue", "continue", "continue", "terminate"]),
            note=st.none() | texts,
        )
    if kind == "terminate":
        return st.builds(Terminate, reason=texts)
    assert kind == "expire_deadline"
    return st.builds(
        ExpireDeadline, deadline_id=st.sampled_from([*deadline_ids, BOGUS_DEADLINE_ID])
    )


def right_party(kind: str, data: st.DataObject) -> Actor:
    if kind == "open_dispute":
        return data.draw(st.sampled_from([PARTY[Role.CUSTOMER], PARTY[Role.ISV]]))
    if kind in GLOBAL_COMMANDS:
        return PARTY[Role.ADMIN]
    return PARTY[ROLE_OF[kind]]


def expected_outcome(
    process: Process, delivery: Delivery, command: Any, actor: Actor, files: dict[str, FileFacts]
) -> State | None:
    """The state an applied command leads to, or None if it must be refused."""
    if delivery.state in TERMINAL_STATES:
        return None
    if actor.role in (Role.CUSTOMER, Role.ISV):
        party = delivery.customer_id if actor.role == Role.CUSTOMER else delivery.isv_id
        if actor.id != party:
            return None
    disputed = delivery.dispute is not None and delivery.dispute.status == "open"
    kind = command.type
    if kind in GLOBAL_COMMANDS:
        if actor.role not in GLOBAL_COMMANDS[kind]:
            return None
        if kind == "terminate":
            return State.TERMINATED
        if kind == "open_dispute":
            return None if disputed else delivery.state
        if not disputed:
            return None
        return State.TERMINATED if command.outcome == "terminate" else delivery.state
    if disputed:
        return None
    deadline_kind = None
    if kind == "expire_deadline":
        active = {d.deadline_id: d.kind for d in delivery.deadlines if d.status == "active"}
        if command.deadline_id not in active:
            return None
        deadline_kind = active[command.deadline_id]
    rows = [
        row
        for row in process.rows_from(delivery.state)
        if (row.command, row.role, row.deadline) == (kind, actor.role, deadline_kind)
    ]
    if not rows:
        return None
    named = [*getattr(command, "attachments", [])]
    if kind == "upload_contract":
        named.append(command.attachment)
    if any(a not in files or files[a].delivery_id != delivery.delivery_id for a in named):
        return None
    if kind == "upload_contract" and contract_problem(files[command.attachment]):
        return None
    return rows[0].to


def check_invariants(process: Process, delivery: Delivery, gone: set[str]) -> None:
    assert delivery.version == len(delivery.history)
    assert len(delivery.attachments) == len(set(delivery.attachments)), (
        "each attachment listed once"
    )
    ids = [d.deadline_id for d in delivery.deadlines]
    assert len(ids) == len(set(ids)), "deadline ids are unique"
    assert not set(ids) & gone, "a deadline that fired or was cancelled never comes back"
    kinds = [d.kind for d in delivery.deadlines]
    for kind in SINGLE_KINDS:
        assert kinds.count(kind) <= 1
    assert len(kinds) == len(set(kinds)), "at most one deadline of each kind"
    if delivery.state in TERMINAL_STATES:
        assert kinds == []
    else:
        assert set(kinds) <= set(process.deadlines.get(delivery.state, ()))
    disputed = delivery.dispute is not None and delivery.dispute.status == "open"
    for deadline in delivery.deadlines:
        if disputed:
            assert deadline.status == "paused" and deadline.due_at is None
            assert deadline.remaining_seconds is not None and deadline.remaining_seconds >= 0
        else:
            assert deadline.status == "active" and deadline.due_at is not None
    if delivery.state == State.COMPLETED:
        assert in_order(process.mandatory, [h.to_state for h in delivery.history])
    for earlier, later in zip(delivery.history, delivery.history[1:], strict=False):
        assert later.from_state == earlier.to_state
        assert later.at >= earlier.at


@pytest.mark.parametrize("process_name", sorted(PROCESSES))
@SETTINGS
@given(policy=policies, data=st.data())
def test_random_commands_keep_every_invariant(
    process_name: str, policy: Policy, data: st.DataObject
) -> None:
    walker = Walker(process_name, policy=policy)
    process = walker.process
    walker.files[UNKNOWN_ID] = FileFacts(UNKNOWN_ID, "0" * 32, "elsewhere.pdf", 10, "pdf")
    walker.files[XLS_ID] = FileFacts(XLS_ID, walker.delivery.delivery_id, "sheet.xls", 10, "xls")
    seen_deadlines: list[str] = []
    gone: set[str] = set()
    event_ids: set[str] = set()
    applied_count = 1  # opening the delivery

    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        delivery = walker.delivery
        current = [d.deadline_id for d in delivery.deadlines]
        rows = process.rows_from(delivery.state)
        disputed = delivery.dispute is not None and delivery.dispute.status == "open"
        if disputed and data.draw(st.booleans(), label="the admin answers the dispute"):
            kind = "resolve_dispute"
            command = data.draw(command_strategy(kind, current), label="command")
        elif rows and data.draw(st.integers(0, 2), label="follow a row") > 0:
            # Lean towards the table so random walks reach the deep states and the end.
            row = data.draw(st.sampled_from(rows), label="row")
            kind = row.command
            if row.deadline:
                ids = [d.deadline_id for d in delivery.deadlines if d.kind == row.deadline]
                command = ExpireDeadline(deadline_id=ids[0] if ids else BOGUS_DEADLINE_ID)
            else:
                command = data.draw(command_strategy(kind, current), label="command")
        else:
            kind = data.draw(st.sampled_from(DRAWN_KINDS), label="kind")
            command = data.draw(command_strategy(kind, current + seen_deadlines), label="command")
        if data.draw(st.integers(0, 3), label="right party?") > 0:
            actor = right_party(kind, data)
        else:
            actor = data.draw(st.sampled_from(ALL_ACTORS), label="actor")
        walker.tick(data.draw(seconds, label="advance"))

        snapshot = delivery.model_copy(deep=True)
        expected = expected_outcome(process, delivery, command, actor, walker.files)
        decision = decide(
            delivery,
            command,
            actor,
            command_id=walker.next_id(),
            now=walker.now,
            policy=policy,
            files=walker.files,
        )
        assert delivery == snapshot, "the engine never changes its input"

        if isinstance(decision, Refused):
            assert expected is None, f"{command!r} by {actor} should apply: {decision}"
            assert isinstance(decision.code, Reason) and decision.message
            if delivery.state in TERMINAL_STATES:
                assert decision.code == Reason.TERMINAL_STATE
            continue

        assert isinstance(decision, Applied)
        new = decision.delivery
        assert expected is not None, f"{command!r} by {actor} in {delivery.state} must be refused"
        assert new.state == expected
        applied_count += 1
        assert new.version == delivery.version + 1 == applied_count
        assert new.history[:-1] == delivery.history
        entry = new.history[-1]
        assert (entry.command, entry.actor, entry.at) == (command.type, actor, walker.now)
        assert (entry.from_state, entry.to_state) == (delivery.state, new.state)
        (event,) = decision.events
        assert event.event_id not in event_ids
        event_ids.add(event.event_id)
        assert (event.from_state, event.to_state, event.delivery.version) == (
            delivery.state,
            new.state,
            new.version,
        )

        # Every deadline that changed is reported, in its new form, for the timer's mirror.
        changes = {d.deadline_id: d for d in decision.deadline_changes}
        before = {d.deadline_id: d for d in delivery.deadlines}
        after = {d.deadline_id: d for d in new.deadlines}
        for deadline_id in before.keys() - after.keys():
            assert changes[deadline_id].status in ("fired", "cancelled")
            gone.add(deadline_id)
        for deadline_id, deadline in after.items():
            if before.get(deadline_id) != deadline:
                assert changes[deadline_id] == deadline
            if deadline_id not in before:
                assert deadline_id not in seen_deadlines, "a new deadline gets a new id"
                seen_deadlines.append(deadline_id)
        if isinstance(command, ExpireDeadline):
            assert changes[command.deadline_id].status == "fired"

        check_invariants(process, new, gone)
        walker.delivery = new
    observe(f"ended {walker.delivery.state}")
    if any(h.command == "resolve_dispute" for h in walker.delivery.history):
        observe("resolved a dispute")
    if any(h.command == "expire_deadline" for h in walker.delivery.history):
        observe("a deadline fired")
