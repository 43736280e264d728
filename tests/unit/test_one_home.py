"""One fact, one home (issue 16): the words, rules and paths the pages, the emails, the API and
the CLI share are read from one place each."""

from __future__ import annotations

from typer.testing import CliRunner

from services.gateway.deliveries import ADMIN_ONLY
from services.ops.commands import link_app
from services.runtime.links import admin_path, commands_path, file_path
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.processes import GLOBAL_COMMANDS
from shared.domain.roles import Role
from shared.wording import PROCESS_LABELS, STATE_LABELS, detail, named

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
