"""A party's own list (/me): its order, counts, filters and page positions, and the list links
that open it (services/gateway/pages/mine*.py, services/runtime/links.py), without a system."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from services.gateway.pages.admin import overdue
from services.gateway.pages.errors import PageError
from services.gateway.pages.mine_query import Cursor, Filters, empty_words, read_cursor
from services.gateway.pages.mine_rows import count_overdue, due_deadline, order_waiting
from services.ops.commands import link_app
from services.runtime.links import LinkError, read_link, sign_admin_link, sign_link
from services.runtime.list_links import list_url, me_path, read_list_link, sign_list_link
from services.runtime.party_lists import DONE, MAX_MILLIS, OTHERS, WALKED_GROUPS, YOURS, Position
from shared.config import Settings
from shared.domain.processes import moves_on_by_itself
from shared.domain.roles import Role
from shared.wording.lists import NO_DELIVERIES, NO_MATCH, NO_MORE, NO_MORE_MATCH, counts_words

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PATIENCE = timedelta(days=14)
DELIVERY = "0123456789abcdef0123456789abcdef"
SETTINGS = Settings(
    link_secret="unit-test-link-secret-at-least-32-bytes",
    public_url="https://dc.example.com/",
    link_ttl=3600,
)


def _waiting(name: str, *, updated_days_ago: float, due_in_days: float | None = None, **extra):
    deadlines = []
    if due_in_days is not None:
        deadlines.append(
            {
                "kind": "confirmation_window",
                "status": "active",
                "due_at": NOW + timedelta(days=due_in_days),
            }
        )
    return {
        "_id": name,
        "state": "awaiting_confirmation",
        "updated_at": NOW - timedelta(days=updated_days_ago),
        "deadlines": deadlines,
        **extra,
    }


def test_what_waits_comes_overdue_first_then_by_deadline_then_longest_waiting():
    rows = [
        _waiting("soon", updated_days_ago=10, due_in_days=4),
        _waiting("no-deadline-new", updated_days_ago=1),
        _waiting("later", updated_days_ago=2, due_in_days=12),
        _waiting("past-due", updated_days_ago=15, due_in_days=-1),  # overdue: not fired
        _waiting("idle", updated_days_ago=20),  # overdue: nothing for 20 days
        _waiting("no-deadline-old", updated_days_ago=5),
        _waiting("soon-too", updated_days_ago=3, due_in_days=4),
    ]
    ordered = [row["_id"] for row in order_waiting(rows, NOW, PATIENCE)]
    assert ordered == [
        "past-due",  # both overdue: the one with a deadline first, by its due time
        "idle",
        "soon",  # same due time: the one waiting longer first
        "soon-too",
        "later",
        "no-deadline-old",
        "no-deadline-new",
    ]
    assert count_overdue(rows, NOW, PATIENCE) == 2


def _deadline(kind: str, due_in_days: float | None, status: str = "active") -> dict:
    due = None if due_in_days is None else NOW + timedelta(days=due_in_days)
    return {"kind": kind, "status": status, "due_at": due}


@pytest.mark.parametrize(
    ("process", "state", "idle_days", "deadlines", "dispute", "why"),
    [
        # The warranty runs for 30 days: a quiet month is no stuck delivery, its end is.
        ("double_check", "in_warranty", 20, [("warranty", 10)], None, None),
        ("double_check", "in_warranty", 31, [("warranty", -1)], None, "a deadline was due"),
        # The confirmation window confirms by itself (here longer than the patience).
        ("basic", "awaiting_confirmation", 20, [("confirmation_window", 1)], None, None),
        ("basic", "awaiting_confirmation", 20, [("reminder", 1)], None, "nothing has happened"),
        (
            "basic",
            "awaiting_confirmation",
            20,
            [("confirmation_window", 1, "cancelled")],
            None,
            "nothing has happened",
        ),
        # A dispute pauses every deadline and waits on an administrator.
        (
            "double_check",
            "in_warranty",
            20,
            [("warranty", None, "paused")],
            "open",
            "the dispute has waited for 20 days",
        ),
        ("double_check", "in_warranty", 2, [("warranty", None, "paused")], "open", None),
        ("basic", "in_delivery", 15, [], None, "nothing has happened for 15 days"),
        ("basic", "in_delivery", 13, [], None, None),
        ("basic", "in_delivery", 15, [("confirmation_window", 3)], None, "nothing has happened"),
        ("basic", "completed", 400, [], None, None),
    ],
)
def test_overdue_is_a_past_due_deadline_or_a_wait_on_a_person_not_on_the_clock(
    process, state, idle_days, deadlines, dispute, why
):
    document = {
        "process": process,
        "state": state,
        "updated_at": NOW - timedelta(days=idle_days),
        "deadlines": [_deadline(*d) for d in deadlines],
        "dispute": {"status": dispute} if dispute else None,
    }
    found = overdue(document, NOW, PATIENCE)
    assert found is None if why is None else found.startswith(why), found
    assert count_overdue([document], NOW, PATIENCE) == (why is not None)


def test_only_the_deadlines_that_end_a_wait_move_a_delivery_on():
    assert moves_on_by_itself("double_check", "in_warranty", "warranty")
    assert moves_on_by_itself("stepwise", "awaiting_confirmation", "confirmation_window")
    assert not moves_on_by_itself("stepwise", "awaiting_confirmation", "reminder")
    assert not moves_on_by_itself("basic", "in_delivery", "confirmation_window")


def test_the_by_when_is_the_soonest_running_deadline_a_party_is_told_of():
    reminder = {"kind": "reminder", "status": "active", "due_at": NOW + timedelta(days=1)}
    window = {"kind": "confirmation_window", "status": "active", "due_at": NOW + timedelta(days=4)}
    warranty = {"kind": "warranty", "status": "active", "due_at": NOW + timedelta(days=30)}
    fired = {**window, "status": "fired", "due_at": NOW - timedelta(days=1)}
    paused = {"kind": "warranty", "status": "paused", "due_at": None, "remaining_seconds": 60}
    assert due_deadline({"deadlines": [reminder, warranty, window]}) == window
    assert due_deadline({"deadlines": [fired, reminder]}) is None
    assert due_deadline({"deadlines": [paused]}) == paused
    assert due_deadline({}) is None


def test_filters_keep_state_process_and_an_exact_order_or_product_id():
    delivery = {"state": "completed", "process": "basic", "order_id": "o-1", "product_id": "p-9"}
    assert Filters().keep(delivery)
    assert Filters(state="completed", process="basic", search="o-1").keep(delivery)
    assert Filters(search="p-9").keep(delivery)
    assert not Filters(search="o-").keep(delivery)
    assert not Filters(state="in_delivery").keep(delivery)
    assert not Filters(process="stepwise").keep(delivery)
    assert Filters(state="terminated").walked_groups() == (DONE,)
    assert Filters(state="in_delivery").walked_groups() == (OTHERS,)
    assert Filters(search="p").walked_groups() == WALKED_GROUPS
    assert Filters(process="basic", search="p-1").query() == {"process": "basic", "q": "p-1"}
    assert not Filters().active and Filters(state="ued").active


def test_page_positions_read_back_as_written_and_nothing_else():
    position = Position(1_764_504_000_123, DELIVERY)
    for cursor in (
        Cursor(YOURS, offset=30),
        Cursor(OTHERS),
        Cursor(DONE),
        Cursor(OTHERS, after=position),
        Cursor(DONE, after=position),
    ):
        assert read_cursor(cursor.text()) == cursor
    for bad in ("", "you", "you.x", "done.1", f"done.1.{DELIVERY.upper()}", "mine", "other."):
        with pytest.raises(PageError) as refused:
            read_cursor(bad)
        assert refused.value.status == 400


@pytest.mark.parametrize(
    "bad",
    [
        f"done.{MAX_MILLIS + 1}.{DELIVERY}",  # 10000-01-01: no such time in Python
        f"other.{10**15 - 1}.{DELIVERY}",  # the largest the pattern takes
        f"done.-1.{DELIVERY}",  # before 1970
        f"other.0{1_764_504_000_123}.{DELIVERY}",  # a leading zero: not as written
        "you.007",
        "you.-1",
        "other.0.",
        f"done..{DELIVERY}",
    ],
)
def test_a_page_position_out_of_range_or_not_as_written_is_refused(bad):
    with pytest.raises(PageError) as refused:
        read_cursor(bad)
    assert refused.value.status == 400 and "is not one this list made" in refused.value.message


def test_the_extreme_page_positions_still_read():
    for text in (f"done.{MAX_MILLIS}.{DELIVERY}", f"other.0.{DELIVERY}", "you.0", "you.999999999"):
        assert read_cursor(text).text() == text
    assert Position(MAX_MILLIS, DELIVERY).day == "9999-12-31"
    for millis in (MAX_MILLIS + 1, -1):
        with pytest.raises(ValueError):
            Position(millis, DELIVERY)


def test_a_page_without_rows_says_why():
    assert empty_words(Filters(), None) == NO_DELIVERIES
    assert empty_words(Filters(state="ued"), None) == NO_MATCH
    # Past the end of the list: never "no deliveries yet".
    for cursor in (Cursor(YOURS, offset=30), Cursor(OTHERS), Cursor(DONE)):
        assert empty_words(Filters(), cursor) == NO_MORE
        assert empty_words(Filters(search="p-1"), cursor) == NO_MORE_MATCH


def test_the_counts_read_as_people_say_them():
    assert counts_words(0, 0) == "Nothing waits for you."
    assert counts_words(1, 0) == "1 delivery waits for you."
    assert counts_words(3, 1) == "3 deliveries wait for you, 1 is overdue."
    assert counts_words(5, 2) == "5 deliveries wait for you, 2 are overdue."


# --- list links --------------------------------------------------------------------------------


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_a_list_link_opens_its_partys_list_and_no_page():
    url = list_url(SETTINGS, "i-1", "isv")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "dc.example.com", "/me")
    link = read_list_link(SETTINGS, _token(url))
    assert (link.party_id, link.role) == ("i-1", Role.ISV)
    assert link.actor.model_dump() == {"id": "i-1", "role": "isv"}
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, _token(url))
    assert refused.value.kind == "other_page"


def test_a_page_link_opens_no_list_not_even_an_admins():
    for token in (
        sign_link(SETTINGS, DELIVERY, "c-1", "customer"),
        sign_admin_link(SETTINGS),
    ):
        with pytest.raises(LinkError) as refused:
            read_list_link(SETTINGS, token)
        assert refused.value.kind == "other_page"


def test_a_list_link_is_refused_changed_expired_or_for_a_role_without_a_list():
    token = sign_list_link(SETTINGS, "c-1", "customer")
    payload, signature = token.rsplit(".", 1)
    changed = f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    for bad, kind in ((changed, "tampered"), ("", "malformed"), ("x" * 2001, "malformed")):
        with pytest.raises(LinkError) as refused:
            read_list_link(SETTINGS, bad)
        assert refused.value.kind == kind
    old = sign_list_link(SETTINGS, "c-1", "customer", signed_at=NOW - timedelta(days=400))
    with pytest.raises(LinkError) as refused:
        read_list_link(SETTINGS, old)
    assert refused.value.kind == "expired" and refused.value.expired_at is not None
    for role in ("admin", "marketplace", "system"):
        with pytest.raises(ValueError):
            sign_list_link(SETTINGS, "x", role)
    with pytest.raises(ValueError):
        sign_list_link(SETTINGS, "a\nb", "isv")


def test_an_administrators_list_link_is_the_admin_list():
    url = list_url(SETTINGS, "admin", "admin")
    assert urlsplit(url).path == "/admin"
    assert read_link(SETTINGS, _token(url)).is_admin


def test_me_path_keeps_the_token_first_and_escapes_the_query():
    assert me_path("t.k", state="completed", q="a b") == "/me?t=t.k&state=completed&q=a+b"


def test_the_link_command_prints_a_list_link(monkeypatch):
    monkeypatch.setenv("DC_PUBLIC_URL", "https://dc.example.com")
    runner = CliRunner()
    printed = runner.invoke(link_app, ["me", "c-1", "customer"])
    assert printed.exit_code == 0 and printed.stdout.startswith("https://dc.example.com/me?t=")
    admin = runner.invoke(link_app, ["me", "admin", "admin"])
    assert admin.exit_code == 0 and "/admin?t=" in admin.stdout
    assert runner.invoke(link_app, ["me", "shop", "marketplace"]).exit_code == 1
