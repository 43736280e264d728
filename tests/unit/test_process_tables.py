"""Table-driven: every row of every process is tested, so a new row needs no new test."""

from __future__ import annotations

import pytest

from shared.domain.commands import PUBLIC_DELIVERY_COMMANDS
from shared.domain.engine import Applied, Reason, Refused
from shared.domain.events import EVENT_TYPE_OF_COMMAND, EVENT_TYPE_OF_DEADLINE, EVENT_TYPES
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, Process, Row, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, State

from .support import (
    ALL_ACTORS,
    PARTY,
    STRANGERS,
    Walker,
    in_order,
    path_to,
    row_command,
    sample_command,
)

ROWS = [(process, row) for process in PROCESSES.values() for row in process.rows]


def _row_id(param: object) -> str:
    if isinstance(param, Process):
        return str(param.name)
    if isinstance(param, Row):
        suffix = f"[{param.deadline}]" if param.deadline else ""
        return f"{param.state}-{param.command}{suffix}-{param.role}"
    return str(param)


def _reachable(process: Process) -> set[State]:
    seen = {State.AWAITING_DEMAND}
    frontier = [State.AWAITING_DEMAND]
    while frontier:
        for row in process.rows_from(frontier.pop()):
            if row.to not in seen:
                seen.add(row.to)
                frontier.append(row.to)
    return seen


def _non_terminal_states(process: Process) -> list[State]:
    return sorted(process.states - TERMINAL_STATES)


STATES = [(p, s) for p in PROCESSES.values() for s in _non_terminal_states(p)]


# --- the tables themselves ------------------------------------------------------------------


@pytest.mark.parametrize("process", PROCESSES.values(), ids=_row_id)
def test_table_is_well_formed(process: Process) -> None:
    assert process.states == _reachable(process), "every state is reachable from awaiting_demand"
    assert State.COMPLETED in process.states
    assert State.TERMINATED not in process.states, "only terminate/resolve_dispute lead there"
    for state in TERMINAL_STATES:
        assert process.rows_from(state) == ()
    for state in _non_terminal_states(process):
        assert process.rows_from(state), f"{state} is a dead end"
        assert next_actors(process, state), f"no person acts in {state}"
    keys = [(r.state, r.command, r.deadline) for r in process.rows]
    assert len(keys) == len(set(keys)), "one row per (state, command, deadline): deterministic"
    for row in process.rows:
        assert (row.command == "expire_deadline") == (row.deadline is not None)
        assert (row.role == Role.SYSTEM) == (row.command == "expire_deadline")
        assert row.command not in GLOBAL_COMMANDS
        if row.deadline:
            assert row.deadline in process.deadlines.get(row.state, ())
    for state, kinds in process.deadlines.items():
        expiring = {r.deadline for r in process.rows_from(state) if r.deadline}
        assert set(kinds) == expiring, f"each deadline of {state} has a row firing it"
    assert process.mandatory[0] == State.AWAITING_DEMAND
    assert set(process.mandatory) <= process.states


def test_every_event_type_is_known() -> None:
    commands = {row.command for p in PROCESSES.values() for row in p.rows} | set(GLOBAL_COMMANDS)
    assert commands - {"expire_deadline"} <= set(EVENT_TYPE_OF_COMMAND)
    assert set(EVENT_TYPE_OF_COMMAND.values()) | set(EVENT_TYPE_OF_DEADLINE.values()) == EVENT_TYPES


@pytest.mark.parametrize("process", PROCESSES.values(), ids=_row_id)
def test_path_to_completed_walks_the_mandatory_states(process: Process) -> None:
    walker = Walker.at(process.name, State.COMPLETED)
    visited = [entry.to_state for entry in walker.delivery.history]
    assert in_order(process.mandatory, visited)


# --- each row applies for its party ---------------------------------------------------------


@pytest.mark.parametrize(("process", "row"), ROWS, ids=_row_id)
def test_row_applies_for_its_party(process: Process, row: Row) -> None:
    walker = Walker.at(process.name, row.state)
    before = walker.delivery
    snapshot = before.model_copy(deep=True)
    command = row_command(row, before)
    actor = PARTY[row.role]

    decision = walker.decide(command, actor)

    assert isinstance(decision, Applied), decision
    new = decision.delivery
    assert before == snapshot, "the engine is pure: its input is untouched"
    assert new.state == row.to
    assert new.version == before.version + 1 == len(new.history)
    assert new.history[:-1] == before.history
    entry = new.history[-1]
    assert entry.command_id == f"cmd-{walker._count}"
    assert (entry.command, entry.actor, entry.at) == (row.command, actor, walker.now)
    assert (entry.from_state, entry.to_state) == (row.state, row.to)
    assert new.updated_at == walker.now
    assert new.refusals == before.refusals
    (event,) = decision.events
    expected_type = (
        EVENT_TYPE_OF_DEADLINE[row.deadline] if row.deadline else EVENT_TYPE_OF_COMMAND[row.command]
    )
    assert event.type == expected_type
    assert (event.from_state, event.to_state) == (row.state, row.to)
    assert (event.command, event.command_id, event.actor) == (row.command, entry.command_id, actor)
    assert event.delivery.version == new.version and event.delivery.state == row.to
    assert event.delivery.deadlines == new.deadlines


@pytest.mark.parametrize(("process", "row"), ROWS, ids=_row_id)
def test_row_refuses_everyone_else(process: Process, row: Row) -> None:
    walker = Walker.at(process.name, row.state)
    command = row_command(row, walker.delivery)
    for actor in ALL_ACTORS:
        if actor == PARTY[row.role]:
            continue
        refused = walker.refuse(command, actor)
        expected = Reason.NOT_A_PARTY if actor in STRANGERS else Reason.ROLE_NOT_ALLOWED
        assert refused.code == expected, (actor, refused)
        assert refused.message


# --- states: what is not a row there is refused ---------------------------------------------


@pytest.mark.parametrize(("process", "state"), STATES, ids=_row_id)
def test_commands_of_other_states_are_wrong_state(process: Process, state: State) -> None:
    walker = Walker.at(process.name, state)
    here = {row.command for row in process.rows_from(state)}
    elsewhere = {r.command: r.role for r in process.rows if r.command not in here}
    for kind, role in elsewhere.items():
        if kind == "expire_deadline":
            continue  # no deadline of this state to name; see the deadline tests
        refused = walker.refuse(sample_command(kind, walker.delivery), PARTY[role])
        assert refused.code == Reason.WRONG_STATE, (kind, refused)
        assert str(state) in refused.message


@pytest.mark.parametrize(("process", "state"), STATES, ids=_row_id)
def test_commands_outside_the_process_are_not_in_process(process: Process, state: State) -> None:
    walker = Walker.at(process.name, state)
    foreign = PUBLIC_DELIVERY_COMMANDS - set(GLOBAL_COMMANDS) - process.commands
    for kind in foreign:
        for actor in ALL_ACTORS:
            refused = walker.refuse(sample_command(kind, walker.delivery), actor)
            expected = Reason.NOT_A_PARTY if actor in STRANGERS else Reason.NOT_IN_PROCESS
            assert refused.code == expected, (kind, actor, refused)
    if process.name == "basic":
        assert {"upload_contract", "request_warranty_service", "confirm_warranty"} <= foreign


@pytest.mark.parametrize(("process", "state"), STATES, ids=_row_id)
def test_admin_terminates_in_every_state(process: Process, state: State) -> None:
    walker = Walker.at(process.name, state)
    before = walker.delivery
    for actor in ALL_ACTORS:
        if actor.role != Role.ADMIN:
            refused = walker.refuse(sample_command("terminate", before), actor)
            expected = Reason.NOT_A_PARTY if actor in STRANGERS else Reason.ROLE_NOT_ALLOWED
            assert refused.code == expected
    applied = walker.apply(sample_command("terminate", before), PARTY[Role.ADMIN])
    new = applied.delivery
    assert new.state == State.TERMINATED and new.version == before.version + 1
    assert new.deadlines == []
    assert {d.deadline_id for d in applied.deadline_changes} == {
        d.deadline_id for d in before.deadlines
    }
    assert all(d.status == "cancelled" for d in applied.deadline_changes)
    (event,) = applied.events
    assert event.type == "delivery_terminated" and event.data == {"reason": "order refunded"}


@pytest.mark.parametrize(("process", "state"), STATES, ids=_row_id)
def test_either_party_opens_a_dispute_in_every_state(process: Process, state: State) -> None:
    for opener in (PARTY[Role.CUSTOMER], PARTY[Role.ISV]):
        walker = Walker.at(process.name, state)
        before = walker.delivery
        for actor in ALL_ACTORS:
            if actor.role not in (Role.CUSTOMER, Role.ISV):
                refused = walker.refuse(sample_command("open_dispute", before), actor)
                assert refused.code == Reason.ROLE_NOT_ALLOWED
            elif actor in STRANGERS:
                refused = walker.refuse(sample_command("open_dispute", before), actor)
                assert refused.code == Reason.NOT_A_PARTY
        applied = walker.apply(sample_command("open_dispute", before), opener)
        new = applied.delivery
        assert new.state == state and new.version == before.version + 1
        assert new.dispute is not None and new.dispute.status == "open"
        assert new.dispute.opened_by == opener
        assert [d.status for d in new.deadlines] == ["paused"] * len(before.deadlines)
        assert applied.events[0].type == "dispute_opened"


@pytest.mark.parametrize(("process", "state"), STATES, ids=_row_id)
def test_an_open_dispute_leaves_only_the_admin(process: Process, state: State) -> None:
    walker = Walker.at(process.name, state)
    walker.apply(sample_command("open_dispute", walker.delivery), PARTY[Role.ISV])
    paused = {d.kind: d.deadline_id for d in walker.delivery.deadlines}
    for row in process.rows_from(state):
        command = sample_command(row.command, walker.delivery)
        if row.deadline:
            command = command.model_copy(update={"deadline_id": paused[row.deadline]})
        for actor in (PARTY[row.role], PARTY[Role.ADMIN]):
            assert walker.refuse(command, actor).code == Reason.DISPUTE_OPEN, (row, actor)
    for kind in process.commands - {"expire_deadline"}:
        for actor in (PARTY[Role.CUSTOMER], PARTY[Role.ISV], PARTY[Role.ADMIN]):
            refused = walker.refuse(sample_command(kind, walker.delivery), actor)
            assert refused.code == Reason.DISPUTE_OPEN, (kind, actor)
    for opener in (PARTY[Role.CUSTOMER], PARTY[Role.ISV]):
        refused = walker.refuse(sample_command("open_dispute", walker.delivery), opener)
        assert refused.code == Reason.DISPUTE_ALREADY_OPEN
        refused = walker.refuse(sample_command("resolve_dispute", walker.delivery), opener)
        assert refused.code == Reason.ROLE_NOT_ALLOWED
        refused = walker.refuse(sample_command("terminate", walker.delivery), opener)
        assert refused.code == Reason.ROLE_NOT_ALLOWED
    resolved = walker.apply(sample_command("resolve_dispute", walker.delivery), PARTY[Role.ADMIN])
    assert resolved.delivery.state == state
    assert resolved.delivery.dispute is not None and resolved.delivery.dispute.status == "resolved"
    # The process goes on where it was.
    for row in process.rows_from(state):
        fresh = Walker.at(process.name, state)
        fresh.apply(sample_command("open_dispute", fresh.delivery), PARTY[Role.CUSTOMER])
        fresh.apply(sample_command("resolve_dispute", fresh.delivery), PARTY[Role.ADMIN])
        assert fresh.step(row).delivery.state == row.to


# --- terminal states absorb everything ------------------------------------------------------


def _terminal_walkers(process: Process) -> list[Walker]:
    completed = Walker.at(process.name, State.COMPLETED)
    terminated_early = Walker(process.name)
    terminated_early.apply(
        sample_command("terminate", terminated_early.delivery), PARTY[Role.ADMIN]
    )
    # Terminated half-way, with its deadlines, by resolving a dispute with "terminate".
    state = path_to(process, State.COMPLETED)[-1].state
    terminated_late = Walker.at(process.name, state)
    terminated_late.apply(sample_command("open_dispute", terminated_late.delivery), PARTY[Role.ISV])
    resolve = sample_command("resolve_dispute", terminated_late.delivery)
    terminated_late.apply(resolve.model_copy(update={"outcome": "terminate"}), PARTY[Role.ADMIN])
    assert terminated_late.delivery.state == State.TERMINATED
    return [completed, terminated_early, terminated_late]


@pytest.mark.parametrize("process", PROCESSES.values(), ids=_row_id)
def test_terminal_states_absorb_every_command(process: Process) -> None:
    kinds = sorted(PUBLIC_DELIVERY_COMMANDS | {"expire_deadline"})
    for walker in _terminal_walkers(process):
        assert walker.delivery.state in TERMINAL_STATES
        assert walker.delivery.deadlines == []
        stale = [h.command_id for h in walker.delivery.history]
        for kind in kinds:
            for actor in ALL_ACTORS:
                command = sample_command(kind, walker.delivery)
                refused = walker.refuse(command, actor)
                assert refused.code == Reason.TERMINAL_STATE, (kind, actor)
                assert str(walker.delivery.state) in refused.message
        assert [h.command_id for h in walker.delivery.history] == stale


def test_reason_codes_are_stable() -> None:
    assert {r.value for r in Reason} == {
        "terminal_state",
        "not_a_party",
        "role_not_allowed",
        "not_in_process",
        "wrong_state",
        "dispute_open",
        "dispute_already_open",
        "no_open_dispute",
        "deadline_not_active",
        "unknown_attachment",
        "invalid_contract_file",
        "warranty_period_required",
        "already_open",
    }


def test_refused_is_a_value_not_an_exception() -> None:
    walker = Walker("basic")
    refused = walker.refuse(sample_command("confirm", walker.delivery), PARTY[Role.CUSTOMER])
    assert isinstance(refused, Refused) and refused.code == Reason.WRONG_STATE
