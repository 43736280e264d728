"""``shared.domain.actions`` agrees with the engine: for every process, state, role and dispute
flag, each action offered is applied by the engine, and each command the engine applies from
that role is offered.

Deliberate exceptions, each checked on its own below:

- ``expire_deadline`` is the timer's, sent when a deadline falls due: never offered, and the
  engine applies it exactly where a row of the state names an active deadline.
- Whether the caller is *this* delivery's party (``not_a_party``) and whether the attachments
  a command names were uploaded to it are checks of the command, not of the situation: the
  commands here are sent by the right party with valid attachments.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.actions import (
    GLOBAL_ACTIONS,
    Situation,
    actions,
    awaits_warranty_service,
    ever_sendable,
    may,
    next_step,
    steps,
    whose_turn,
)
from shared.domain.commands import PUBLIC_DELIVERY_COMMANDS
from shared.domain.delivery import Delivery, Dispute
from shared.domain.engine import Applied, decide
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, ProcessName, State

from .support import PARTY, POLICY, T0, Walker, active_deadline, files_for, open_for, sample_command

#: Every command a party sends to an existing delivery, in a fixed order.
PARTY_KINDS = sorted(PUBLIC_DELIVERY_COMMANDS)
#: Every situation a delivery of some process can be in, reachable or not.
SITUATIONS = [
    Situation(process, state, dispute)
    for process, state, dispute in product(ProcessName, State, (False, True))
]


def _id(value: object) -> str:
    if isinstance(value, Situation):
        return f"{value.process}-{value.state}{'-disputed' if value.dispute_open else ''}"
    return str(value)


def _placed(situation: Situation) -> Delivery:
    """A delivery of ``situation``'s process put straight into its state and dispute."""
    delivery = open_for(situation.process).model_copy(update={"state": situation.state})
    if situation.dispute_open:
        dispute = Dispute(status="open", opened_by=PARTY[Role.ISV], reason="scope", opened_at=T0)
        delivery = delivery.model_copy(update={"dispute": dispute})
    return delivery


def _applied_kinds(delivery: Delivery, role: Role) -> list[str]:
    """The party commands the engine applies on ``delivery`` from ``role``'s right party."""
    files = files_for(delivery)
    return [
        kind
        for kind in PARTY_KINDS
        if isinstance(
            decide(
                delivery,
                sample_command(kind, delivery),
                PARTY[role],
                command_id="probe",
                now=T0 + timedelta(hours=1),
                policy=POLICY,
                files=files,
            ),
            Applied,
        )
    ]


@pytest.mark.parametrize("situation", SITUATIONS, ids=_id)
def test_offered_is_exactly_what_the_engine_applies(situation: Situation) -> None:
    delivery = _placed(situation)
    assert Situation.of(delivery) == situation
    for role in Role:
        offered = actions(situation, role)
        assert len(set(offered)) == len(offered), (role, offered)
        assert sorted(offered) == _applied_kinds(delivery, role), role
        assert all(may(situation, role, kind) for kind in offered)
        assert set(offered) <= ever_sendable(role)


@pytest.mark.parametrize(
    ("process", "state"),
    [(p.name, s) for p in PROCESSES.values() for s in sorted(p.states)],
    ids=_id,
)
def test_reached_states_agree_and_only_the_timer_expires_deadlines(
    process: ProcessName, state: State
) -> None:
    """The same on deliveries the engine walked there (with their real deadlines), before
    and after a dispute is opened; ``expire_deadline`` is applied exactly for the rows of the
    state that name an active deadline, from the timer, and only while no dispute is open."""
    walker = Walker.at(process, state)
    disputed = None
    if state not in TERMINAL_STATES:
        opened = walker.decide(sample_command("open_dispute", walker.delivery), PARTY[Role.ISV])
        assert isinstance(opened, Applied)
        disputed = opened.delivery
    for delivery in (walker.delivery, disputed):
        if delivery is None:
            continue
        situation = Situation.of(delivery)
        for role in Role:
            assert sorted(actions(situation, role)) == _applied_kinds(delivery, role), role
            assert "expire_deadline" not in actions(situation, role)
        table = PROCESSES[process]
        for row in table.rows_from(state):
            if row.deadline is None:
                continue
            found = active_deadline(delivery, row.deadline)
            assert found is not None or situation.dispute_open
            kept = next(d for d in delivery.deadlines if d.kind == row.deadline)
            command = sample_command("expire_deadline", delivery).model_copy(
                update={"deadline_id": kept.deadline_id}
            )
            for role in Role:
                decision = decide(
                    delivery,
                    command,
                    PARTY[role],
                    command_id="probe",
                    now=T0 + timedelta(days=400),
                    policy=POLICY,
                )
                expected = role == Role.SYSTEM and not situation.dispute_open
                assert isinstance(decision, Applied) == expected, (row, role, decision)


def test_the_global_actions_are_the_engines_global_commands() -> None:
    assert {kind for kind, _ in GLOBAL_ACTIONS} == set(GLOBAL_COMMANDS)


@pytest.mark.parametrize("situation", SITUATIONS, ids=_id)
def test_steps_are_the_table_rows_and_come_first(situation: Situation) -> None:
    table = PROCESSES[situation.process]
    for role in Role:
        found = steps(situation.process, situation.state, role)
        rows = [
            r.command
            for r in table.rows_from(situation.state)
            if r.role == role and r.command != "expire_deadline"
        ]
        assert found == tuple(dict.fromkeys(rows))
        assert next_step(situation.process, situation.state, role) == (found[0] if found else None)
        offered = actions(situation, role)
        if not situation.terminal and not situation.dispute_open:
            assert offered[: len(found)] == found
            assert all(kind in GLOBAL_COMMANDS for kind in offered[len(found) :])


@pytest.mark.parametrize("situation", SITUATIONS, ids=_id)
def test_whose_turn_is_whoever_has_a_step_or_the_admin_in_a_dispute(situation: Situation) -> None:
    turn = whose_turn(situation)
    if situation.terminal:
        assert turn == frozenset()
    elif situation.dispute_open:
        assert turn == {Role.ADMIN}
        assert "resolve_dispute" in actions(situation, Role.ADMIN)
    else:
        assert turn == next_actors(PROCESSES[situation.process], situation.state)
        for role in turn:
            assert steps(situation.process, situation.state, role)


def test_what_each_role_may_ever_send() -> None:
    assert ever_sendable(Role.ADMIN) == {"terminate", "resolve_dispute"}
    assert ever_sendable(Role.ISV) == {"upload_contract", "finish", "open_dispute"}
    assert ever_sendable(Role.CUSTOMER) == {
        "submit_demand",
        "confirm",
        "request_changes",
        "request_warranty_service",
        "confirm_warranty",
        "open_dispute",
    }
    # The marketplace only opens deliveries; the timer's expiries are no one's choice.
    assert ever_sendable(Role.MARKETPLACE) == ever_sendable(Role.SYSTEM) == frozenset()
    assert set().union(*map(ever_sendable, Role)) == PUBLIC_DELIVERY_COMMANDS


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(process=st.sampled_from(list(ProcessName)), data=st.data())
def test_a_walk_through_offered_actions_stays_in_agreement(process: ProcessName, data) -> None:
    """Press only what is offered, by whoever it is offered to: every press is applied, and
    at every step the offer is still exactly what the engine applies."""
    walker = Walker(process)
    for _ in range(25):
        situation = Situation.of(walker.delivery)
        offers = [(role, kind) for role in Role for kind in actions(situation, role)]
        for role in Role:
            assert sorted(actions(situation, role)) == _applied_kinds(walker.delivery, role)
        if not offers:
            assert situation.terminal
            return
        role, kind = data.draw(st.sampled_from(offers), label="press")
        walker.apply(sample_command(kind, walker.delivery), PARTY[role])


def test_a_warranty_request_makes_it_the_isvs_turn_with_no_step_of_theirs() -> None:
    """The one turn without a step: the ISV owes the warranty service, done outside the
    system, while the customer may still confirm the warranty or ask again."""
    walker = Walker.at(ProcessName.DOUBLE_CHECK, State.IN_WARRANTY)
    assert whose_turn(Situation.of(walker.delivery)) == {Role.CUSTOMER}
    walker.apply(sample_command("request_warranty_service", walker.delivery), PARTY[Role.CUSTOMER])
    situation = Situation.of(walker.delivery)
    assert situation.warranty_service_requested
    assert Situation.of_document(walker.delivery.model_dump()) == situation
    assert whose_turn(situation) == {Role.ISV} and not steps(*_where(situation), Role.ISV)
    assert actions(situation, Role.CUSTOMER) == actions(
        Situation(ProcessName.DOUBLE_CHECK, State.IN_WARRANTY), Role.CUSTOMER
    )
    walker.apply(sample_command("open_dispute", walker.delivery), PARTY[Role.ISV])
    assert whose_turn(Situation.of(walker.delivery)) == {Role.ADMIN}


@pytest.mark.parametrize(
    ("state", "asked", "resolved", "awaited"),
    [
        (State.IN_WARRANTY, None, None, False),
        (State.IN_WARRANTY, 2, None, True),
        (State.IN_WARRANTY, 2, 1, True),  # a dispute resolved before the request
        (State.IN_WARRANTY, 2, 3, False),  # resolved after it: decided anew
        (State.COMPLETED, 2, None, False),
        (State.AWAITING_CONFIRMATION, 2, None, False),
    ],
)
def test_the_warranty_service_is_awaited_while_a_request_is_the_latest_warranty_event(
    state, asked, resolved, awaited
) -> None:
    def at(hours: int | None):
        return None if hours is None else T0 + timedelta(hours=hours)

    assert awaits_warranty_service(state, at(asked), at(resolved)) == awaited


def _where(situation: Situation) -> tuple[ProcessName, State]:
    return situation.process, situation.state
