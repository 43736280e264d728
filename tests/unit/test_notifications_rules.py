"""The notification table is complete: every transition of every process emails someone, with a
headline, and whoever must act next is told what to do.

A new row in ``shared/domain/processes.py``, a new global command or a new deadline kind without
its rule (or a new state someone acts in without its action text) fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notifier.render import DEADLINES, ROLE_NAMES, STAGES
from services.notifier.rules import EVERYONE, PARTIES, RULES, audience, recipients
from services.notifier.rules import STATE_REQUESTS as ACTIONS
from services.runtime.party_lists import YOURS, list_group
from shared.domain.actions import Situation, whose_turn
from shared.domain.engine import Applied
from shared.domain.events import EVENT_TYPE_OF_COMMAND, EVENT_TYPE_OF_DEADLINE, EVENT_TYPES
from shared.domain.processes import BASIC, GLOBAL_COMMANDS, PROCESSES, Process, Row, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind, ProcessName, State
from shared.wording import WARRANTY_SERVICE_TASK, please
from tests.unit.notification_events import EVENTS
from tests.unit.support import PARTY, Walker, path_to, sample_command

README = Path(__file__).resolve().parents[2] / "README.md"


def transitions(process: Process) -> Iterator[tuple[str, str | None, State]]:
    """(what happened, its event type or None if it has none, the state it leads to)."""
    yield "open_delivery", EVENT_TYPE_OF_COMMAND.get("open_delivery"), State.AWAITING_DEMAND
    for row in process.rows:
        if row.command == "expire_deadline":
            event_type = EVENT_TYPE_OF_DEADLINE.get(row.deadline) if row.deadline else None
        else:
            event_type = EVENT_TYPE_OF_COMMAND.get(row.command)
        yield f"{row.state} --{row.command}/{row.role}--> {row.to}", event_type, row.to
    # A global command keeps the state (a dispute) or ends the delivery (a termination); a new
    # one is checked for both.
    kept = sorted(process.states - TERMINAL_STATES)
    for command in GLOBAL_COMMANDS:
        targets = {"terminate": [], "open_dispute": kept}.get(command, kept)
        for state in targets + ([] if command == "open_dispute" else [State.TERMINATED]):
            yield f"{command} (to {state})", EVENT_TYPE_OF_COMMAND.get(command), state


def problems(process: Process) -> list[str]:
    found = []
    for transition, event_type, state in transitions(process):
        if event_type is None:
            found.append(f"{process.name} {transition}: no event type")
            continue
        rule = RULES.get(event_type)
        if rule is None:
            found.append(f"{process.name} {transition}: no rule for {event_type}")
            continue
        if not rule.headline.strip() or not rule.subject.strip() or not rule.to:
            found.append(f"{event_type}: a rule needs recipients, a subject and a headline")
        acting = (
            next_actors(process, state)
            if rule.state_tasks and state not in TERMINAL_STATES
            else frozenset()
        )
        for role in sorted(acting):
            if role not in rule.to:
                found.append(f"{process.name} {transition}: {role} must act but is not emailed")
            elif role not in rule.asks and (role, state) not in ACTIONS:
                found.append(f"{process.name} {transition}: no action text for {role} in {state}")
        if not found:
            audience(event_type, process, state)  # and the notifier finds them all
    return found


@pytest.mark.parametrize("process", PROCESSES.values(), ids=lambda p: p.name)
def test_every_transition_of_every_process_has_a_rule_a_headline_and_its_tasks(process: Process):
    assert problems(process) == []


def test_a_new_row_without_its_notification_fails_the_check():
    new_command = Process(
        BASIC.name, (*BASIC.rows, Row(State.IN_DELIVERY, "pause", Role.ISV, State.IN_DELIVERY))
    )
    assert problems(new_command) == ["basic in_delivery --pause/isv--> in_delivery: no event type"]
    # The ISV would act in awaiting_confirmation, which has no action text for the ISV.
    new_actor = Process(
        BASIC.name,
        (*BASIC.rows, Row(State.AWAITING_CONFIRMATION, "finish", Role.ISV, State.COMPLETED)),
    )
    assert (
        "basic in_delivery --finish/isv--> awaiting_confirmation: "
        "no action text for isv in awaiting_confirmation"
    ) in problems(new_actor)
    # ...and the reminder, which emails only the customer, would leave the ISV untold.
    assert (
        "basic awaiting_confirmation --expire_deadline/system--> awaiting_confirmation: "
        "isv must act but is not emailed"
    ) in problems(new_actor)


def test_every_event_type_has_a_rule_and_no_rule_is_stale():
    assert set(RULES) == EVENT_TYPES


def test_every_deadline_kind_fires_an_event_with_a_rule_and_is_worded():
    for kind in DeadlineKind:
        assert EVENT_TYPE_OF_DEADLINE[kind] in RULES
        assert kind in DEADLINES


def test_every_state_and_role_has_its_words():
    assert set(STAGES) == set(State)
    assert set(ROLE_NAMES) == set(Role)


def test_no_action_text_is_stale():
    used = {
        (role, state)
        for process in PROCESSES.values()
        for state in process.states - TERMINAL_STATES
        for role in next_actors(process, state)
    }
    assert set(ACTIONS) == used


def test_admins_hear_of_disputes_and_terminations_and_resolve_disputes():
    for command in GLOBAL_COMMANDS:
        assert RULES[EVENT_TYPE_OF_COMMAND[command]].to == EVERYONE
    assert RULES["dispute_opened"].asks[Role.ADMIN]
    assert not RULES["dispute_opened"].state_tasks
    for event_type, rule in RULES.items():
        assert set(rule.asks) <= set(rule.to), event_type
        if event_type not in {EVENT_TYPE_OF_COMMAND[c] for c in GLOBAL_COMMANDS}:
            assert Role.ADMIN not in rule.to, event_type


@pytest.mark.parametrize(("label", "event"), EVENTS, ids=[label for label, _ in EVENTS])
def test_who_is_emailed_for_each_real_event(label, event):
    chosen = recipients(event, "admin@example.com")
    summary = event.delivery
    by_role = {r.role: r for r in chosen}
    rule = RULES[event.type]
    assert set(by_role) == set(rule.to)
    assert {r.email for r in chosen} <= {
        summary.customer_email,
        summary.isv_email,
        "admin@example.com",
    }
    acting = (
        next_actors(PROCESSES[summary.process], event.to_state)
        if rule.state_tasks and event.to_state not in TERMINAL_STATES
        else frozenset()
    )
    if event.type == "warranty_service_requested":
        acting = frozenset({Role.ISV})  # the ISV owes the service; the customer waits
    for role, recipient in by_role.items():
        asked = rule.asks[role] is not None if role in rule.asks else role in acting
        assert recipient.must_act == asked, (label, role)
    if event.to_state in TERMINAL_STATES:
        assert not any(r.must_act for r in chosen)


def _emails_and_lists_agree(walker: Walker, applied: Applied) -> None:
    """Whoever an event's email asks to act is whoever's list the delivery now waits in."""
    situation = Situation.of(walker.delivery)
    for event in applied.events:
        rule = RULES[event.type]
        asked = {r.role for r in recipients(event, "admin@example.com") if r.must_act}
        listed = {role for role in PARTIES if list_group(situation, role) == YOURS}
        assert asked - {Role.ADMIN} == listed & set(rule.to), (event.type, situation)
        after = Situation.after_event(event.type, walker.process.name, event.to_state)
        if not situation.dispute_open:
            assert whose_turn(after) == whose_turn(situation), event.type


@pytest.mark.parametrize("process", list(PROCESSES))
def test_the_emails_and_the_lists_ask_the_same_party_to_act(process):
    walker = Walker(process)
    for row in path_to(walker.process, State.COMPLETED, walker.delivery.state):
        _emails_and_lists_agree(walker, walker.step(row))


def test_after_a_warranty_request_the_isv_is_asked_and_listed_until_a_resolution():
    walker = Walker.at(ProcessName.DOUBLE_CHECK, State.IN_WARRANTY)
    request = sample_command("request_warranty_service", walker.delivery)
    applied = walker.apply(request, PARTY[Role.CUSTOMER])
    _emails_and_lists_agree(walker, applied)
    [event] = applied.events
    by_role = {r.role: r for r in recipients(event, "admin@example.com")}
    assert by_role[Role.ISV].action == please(WARRANTY_SERVICE_TASK)
    assert by_role[Role.CUSTOMER].action is None
    for kind, role in (
        ("open_dispute", Role.ISV),
        ("resolve_dispute", Role.ADMIN),  # decides anew: the customer is asked again
        ("request_warranty_service", Role.CUSTOMER),
        ("request_warranty_service", Role.CUSTOMER),  # asked again: still the ISV's
        ("confirm_warranty", Role.CUSTOMER),
    ):
        _emails_and_lists_agree(
            walker, walker.apply(sample_command(kind, walker.delivery), PARTY[role])
        )
    assert walker.delivery.state == State.COMPLETED


def test_an_address_with_two_roles_is_emailed_once_as_the_one_who_acts():
    _, event = next((label, e) for label, e in EVENTS if label == "basic:open_delivery")
    same = event.model_copy(
        update={"delivery": event.delivery.model_copy(update={"isv_email": "ada@example.com"})}
    )
    [only] = recipients(same, "admin@example.com")
    assert only.role == Role.CUSTOMER and only.must_act


def test_the_readme_table_says_who_each_event_emails():
    section = README.read_text().split("## Emails", 1)[1].split("\n## ", 1)[0]
    names = {"customer": Role.CUSTOMER, "ISV": Role.ISV, "admin": Role.ADMIN}
    documented = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) >= 3 else None
        if match:
            documented[match[1]] = {names[n.strip()] for n in cells[2].split(",")}
    assert documented == {event_type: set(rule.to) for event_type, rule in RULES.items()}
