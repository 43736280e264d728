"""One fact, one home (issue 16): the words, rules and paths the pages, the emails, the API and
the CLI share are read from one place each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.gateway.deliveries import ADMIN_ONLY
from services.gateway.models import DeadlineView, DeliverySummary
from services.ops.link_commands import link_app
from services.runtime.links import admin_path, commands_path, file_path, sign_link
from services.runtime.list_links import sign_list_link
from shared.config import Settings
from shared.domain.commands import OpenDelivery
from shared.domain.delivery import (
    PARTY_ID_FIELDS,
    SHOWN_DEADLINE_STATUSES,
    Deadline,
    DeadlineStatus,
    Delivery,
    past_due,
)
from shared.domain.processes import GLOBAL_COMMANDS
from shared.domain.roles import MAX_ACTOR_ID, Actor, Role, actor_id_problem, is_actor_id
from shared.wording import PROCESS_LABELS, STATE_LABELS, deadline_words, detail, named

DELIVERY = "0123456789abcdef0123456789abcdef"


def test_a_name_and_its_value_read_alike_on_the_page_and_in_the_cli():
    confirm = "awaiting_confirmation"
    assert named(STATE_LABELS, confirm) == f"Confirm delivery ({confirm})"
    assert named(PROCESS_LABELS, "basic") == "Basic delivery (basic)"
    assert named(STATE_LABELS, "from_an_older_version") == "from_an_older_version"
    assert named(STATE_LABELS, 3) == "3"


def test_a_commands_details_read_alike_on_the_page_and_in_emails():
    assert detail("outcome", "continue") == ("Outcome", "the delivery continues")
    assert detail("reason", "late") == ("Reason", "late")
    assert detail("due_date", "x") == ("Due date", "x")


def test_admin_only_commands_come_from_the_process_tables():
    assert {k for k, roles in GLOBAL_COMMANDS.items() if roles == {Role.ADMIN}} == ADMIN_ONLY
    assert set(PARTY_ID_FIELDS) == {Role.CUSTOMER, Role.ISV}


def test_the_pages_paths():
    assert file_path(DELIVERY, "f1", "t.k") == f"/d/{DELIVERY}/files/f1?t=t.k"
    assert commands_path(DELIVERY) == f"/d/{DELIVERY}/commands"
    assert admin_path("t.k", command="c1") == "/admin?t=t.k&command=c1"


def test_the_link_command_prints_links(monkeypatch):
    monkeypatch.setenv("DC_PUBLIC_URL", "https://dc.example.com")
    runner = CliRunner()
    admin = runner.invoke(link_app, ["admin"])
    assert admin.exit_code == 0 and admin.stdout.startswith("https://dc.example.com/admin?t=")
    party = runner.invoke(link_app, ["delivery", DELIVERY, "c-1", "customer", "confirm"])
    assert party.exit_code == 0 and "action=confirm" in party.stdout
    assert runner.invoke(link_app, ["delivery", "nope", "c-1", "customer"]).exit_code == 1


NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_deadline_is_past_due_only_while_it_runs():
    due = {"kind": "warranty", "status": "active", "due_at": NOW - timedelta(seconds=1)}
    assert past_due(due, NOW)
    assert not past_due({**due, "due_at": NOW}, NOW)
    assert not past_due({**due, "status": "fired"}, NOW)
    assert not past_due({**due, "status": "paused", "due_at": None}, NOW)


def test_the_answers_deadline_and_summary_are_the_domains():
    assert DeadlineView.model_fields["status"].annotation == DeadlineStatus
    assert set(get_args(DeadlineStatus)) > SHOWN_DEADLINE_STATUSES
    for name, field in DeliverySummary.model_fields.items():
        if name != "deadlines":
            assert field.annotation == Delivery.model_fields[name].annotation, name
            assert field.metadata == Delivery.model_fields[name].metadata, name
            assert field.is_required(), name


def test_a_deadline_reads_alike_from_a_stored_one_and_the_domains():
    stored = {"kind": "warranty", "status": "paused", "due_at": None, "remaining_seconds": 90}
    model = Deadline(deadline_id="d", **stored)
    for reader in (Role.CUSTOMER, Role.ISV):
        dumped = model.model_dump()
        assert deadline_words(stored, reader, NOW) == deadline_words(dumped, reader, NOW)
    assert deadline_words(stored, Role.ISV, NOW).value == "paused, 2 minutes left"


@pytest.mark.parametrize("party", ["", "x" * (MAX_ACTOR_ID + 1), "a\nb", ".", "..", "a\x85"])
def test_a_link_refuses_a_party_no_token_could_name(party):
    with pytest.raises(ValueError, match="neither '.' nor '..'"):
        sign_link(Settings(), "*", party, Role.ADMIN)
    with pytest.raises(ValueError):
        sign_list_link(Settings(), party, Role.ISV)
    with pytest.raises(ValidationError):
        Actor(id=party, role=Role.MARKETPLACE)
    assert not is_actor_id(party) and actor_id_problem(party)


@pytest.mark.parametrize("field", ["customer_id", "isv_id"])
@pytest.mark.parametrize("party", [".", "..", " .. "])
def test_a_delivery_refuses_a_party_whose_pages_no_browser_reaches(field, party):
    """RFC 3986 removes dot segments: /admin/scorecards/.. is /admin; so is %2E%2E."""
    opening = {
        "order_id": "o-1",
        "order_spec": "x",
        "product_id": "p-1",
        "isv_id": "i-1",
        "customer_id": "c-1",
        "customer_email": "c@example.com",
        "isv_email": "i@example.com",
        "process": "basic",
    }
    assert OpenDelivery.model_validate({**opening, field: "..."}).model_dump()[field] == "..."
    with pytest.raises(ValidationError) as refused:
        OpenDelivery.model_validate({**opening, field: party})
    [problem] = refused.value.errors()
    assert problem["loc"] == (field,) and "may not be '.' or '..'" in problem["msg"]


def test_the_longest_actor_id_is_both_an_actor_and_a_link_party():
    longest = "x" * MAX_ACTOR_ID
    assert Actor(id=longest, role=Role.ADMIN).id == longest
    assert sign_link(Settings(), "*", longest, Role.ADMIN)
