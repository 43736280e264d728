"""The words and choices of the delivery page, without a browser: steps, turns, deadlines,
actions read from the process tables, and input errors in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from multidict import MultiDict
from pydantic import ValidationError

from services.gateway.pages import (
    available_actions,
    command_body,
    deadline_words,
    field_errors,
    overdue,
    sendable,
    steps_of,
    turn_words,
)
from shared.domain.commands import COMMAND_MODELS, PUBLIC_DELIVERY_COMMANDS
from shared.domain.processes import PROCESSES
from shared.domain.roles import Role
from shared.domain.states import State
from shared.wording import ACTIONS, STATE_LABELS, duration, relative

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def delivery(process: str = "basic", state: str = "awaiting_demand", **extra):
    return {
        "process": process,
        "state": state,
        "history": [{"to_state": "awaiting_demand"}],
        "updated_at": NOW,
        "deadlines": [],
        **extra,
    }


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        # One unit, rounded to the nearest (shared/wording.py), as the emails say it.
        (timedelta(days=13, hours=23), "14 days"),
        (timedelta(days=1, hours=5), "1 day"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=5, minutes=59), "6 hours"),
        (timedelta(hours=1, minutes=1), "1 hour"),
        (timedelta(minutes=42), "42 minutes"),
        (timedelta(seconds=61), "1 minute"),
        (timedelta(seconds=8), "8 seconds"),
    ],
)
def test_spans_read_as_a_person_says_them(delta, words):
    assert duration(delta) == words
    assert relative(NOW + delta, NOW) == f"in {words}"


def test_a_past_moment_is_ago_and_this_moment_now():
    assert relative(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert relative(NOW, NOW) == "now"


def test_the_confirmation_deadline_in_each_viewers_terms():
    due = {"kind": "confirmation_window", "status": "active", "due_at": NOW + timedelta(days=14)}
    customer = deadline_words(due, Role.CUSTOMER, NOW)
    assert customer == (
        "Confirmed automatically on Wed 9 Dec 2026, 12:00 UTC (in 14 days), "
        "unless you confirm or ask for changes first."
    )
    assert "unless the customer confirms" in deadline_words(due, Role.ISV, NOW)
    paused = {"kind": "confirmation_window", "status": "paused", "remaining_seconds": 86_400 * 3}
    assert deadline_words(paused, Role.CUSTOMER, NOW) == (
        "The automatic confirmation is paused while the dispute is open; "
        "3 days will be left when it resumes."
    )
    warranty = {"kind": "warranty", "status": "active", "due_at": NOW + timedelta(days=90)}
    assert "you may ask for warranty service" in deadline_words(warranty, Role.CUSTOMER, NOW)
    assert "you may" not in deadline_words(warranty, Role.ISV, NOW)


def test_steps_are_the_mandatory_states_then_completed():
    for name, process in PROCESSES.items():
        steps = steps_of(delivery(name.value))
        assert [s["state"] for s in steps] == [*[s.value for s in process.mandatory], "completed"]
        assert [s["status"] for s in steps][:2] == ["current", "todo"]
        assert all(s["label"] == STATE_LABELS[s["state"]] for s in steps)
    middle = steps_of(delivery("basic", "awaiting_confirmation"))
    assert [s["status"] for s in middle] == ["done", "done", "current", "todo"]


def test_a_terminated_delivery_shows_where_it_stopped():
    history = [
        {"to_state": "awaiting_demand"},
        {"to_state": "in_delivery"},
        {"to_state": "terminated"},
    ]
    steps = steps_of(delivery("basic", "terminated", history=history))
    assert [(s["state"], s["status"]) for s in steps] == [
        ("awaiting_demand", "done"),
        ("in_delivery", "done"),
        ("awaiting_confirmation", "todo"),
        ("terminated", "current"),
    ]


def test_actions_come_from_the_process_table_for_the_viewers_role():
    assert available_actions(delivery(), Role.CUSTOMER) == ["submit_demand", "open_dispute"]
    assert available_actions(delivery(), Role.ISV) == ["open_dispute"]
    waiting = delivery("basic", "awaiting_confirmation")
    assert available_actions(waiting, Role.CUSTOMER) == [
        "confirm",
        "request_changes",
        "open_dispute",
    ]
    assert available_actions(delivery("contract", "awaiting_contract"), Role.ISV) == [
        "upload_contract",
        "open_dispute",
    ]
    warranty = delivery("double_check", "in_warranty")
    assert available_actions(warranty, Role.CUSTOMER) == [
        "request_warranty_service",
        "confirm_warranty",
        "open_dispute",
    ]
    assert available_actions(waiting, Role.ADMIN) == ["terminate"]


def test_a_dispute_leaves_the_actions_to_the_admin():
    disputed = delivery("basic", "in_delivery", dispute={"status": "open", "reason": "x"})
    assert available_actions(disputed, Role.CUSTOMER) == []
    assert available_actions(disputed, Role.ISV) == []
    assert available_actions(disputed, Role.ADMIN) == ["resolve_dispute", "terminate"]
    assert "an administrator will resolve it" in turn_words(disputed, Role.CUSTOMER)[0]
    assert turn_words(disputed, Role.ADMIN)[1] is True


def test_terminal_deliveries_offer_nothing():
    for state in ("completed", "terminated"):
        for role in (Role.CUSTOMER, Role.ISV, Role.ADMIN):
            assert available_actions(delivery("basic", state), role) == []


def test_every_action_offered_anywhere_has_words_and_may_be_sent():
    for name, process in PROCESSES.items():
        for state in process.states:
            for role in (Role.CUSTOMER, Role.ISV, Role.ADMIN):
                for action in available_actions(delivery(name.value, state.value), role):
                    assert action in ACTIONS and action in PUBLIC_DELIVERY_COMMANDS
                    assert action in sendable(role)
    assert "terminate" not in sendable(Role.CUSTOMER)
    assert "confirm" not in sendable(Role.ISV)
    assert sendable(Role.ADMIN) == {"terminate", "resolve_dispute"}


def test_whose_turn_it_is():
    text, mine = turn_words(delivery(), Role.CUSTOMER)
    assert mine and text == (
        "Your turn: submit your demands and your contact details (name, phone and email)."
    )
    text, mine = turn_words(delivery(), Role.ISV)
    assert not mine and text == "Waiting for the customer to submit the demands."
    text, _ = turn_words(delivery("stepwise", "ued"), Role.CUSTOMER)
    assert text == "Waiting for the ISV to submit the user experience design."
    for state in State:
        assert state.value in STATE_LABELS


def test_forms_become_commands_that_validate():
    form = MultiDict(
        contact_name=" Ann ",
        contact_phone="+1 555 0100",
        contact_email="Ann@Example.com",
        demands="Five pages",
    )
    body = command_body("submit_demand", form)
    command = COMMAND_MODELS["submit_demand"].model_validate(body)
    assert command.contact.name == "Ann" and command.contact.email == "ann@example.com"
    assert command_body("finish", MultiDict(note="  ")) == {"type": "finish"}
    assert command_body("resolve_dispute", MultiDict(outcome="continue")) == {
        "type": "resolve_dispute",
        "outcome": "continue",
    }


def test_input_errors_are_in_words_by_field():
    typed = {"contact_name": "", "contact_phone": "call me", "contact_email": "ann", "demands": ""}
    body = command_body("submit_demand", MultiDict(typed))
    with pytest.raises(ValidationError) as invalid:
        COMMAND_MODELS["submit_demand"].model_validate(body)
    errors = field_errors(invalid.value, typed)
    assert errors["contact_name"] == "Required: please fill this in"
    assert errors["demands"] == "Required: please fill this in"
    assert errors["contact_phone"].startswith("Write a phone number")
    assert errors["contact_email"].startswith("Write a valid email address")
    with pytest.raises(ValidationError) as invalid:
        COMMAND_MODELS["resolve_dispute"].model_validate(
            {"type": "resolve_dispute", "outcome": "x"}
        )
    assert field_errors(invalid.value)["outcome"].startswith("Choose whether")


def test_overdue_means_a_deadline_past_due_or_a_long_silence():
    patience = timedelta(days=14)
    assert overdue(delivery("basic", "in_delivery"), NOW, patience) is None
    late = delivery(
        "basic",
        "awaiting_confirmation",
        deadlines=[
            {"kind": "confirmation_window", "status": "active", "due_at": NOW - timedelta(hours=3)}
        ],
    )
    assert overdue(late, NOW, patience) == "a deadline was due 3 hours ago and has not fired"
    silent = delivery("basic", "in_delivery", updated_at=NOW - timedelta(days=20))
    assert overdue(silent, NOW, patience) == "nothing has happened for 20 days"
    done = delivery("basic", "completed", updated_at=NOW - timedelta(days=200))
    assert overdue(done, NOW, patience) is None
