"""One fact, one wording: the page, the email and the CLI say a moment, a duration, a state and
a deadline through ``shared.wording``, so the same instant reads the same everywhere.

The issue's example: the page said "in 13 days" (it floored) while the email sent at the same
moment said "in 14 days" (it rounded).
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.gateway import pages
from services.notifier import render
from services.notifier.rules import STATE_REQUESTS as EMAIL_TASKS
from services.ops.cells import _named, _when
from shared import wording
from shared.domain.commands import COMMAND_MODELS, PUBLIC_DELIVERY_COMMANDS
from shared.domain.delivery import Deadline
from shared.domain.processes import PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind, ProcessName, State
from shared.wording import duration, relative, when

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SERVICES = Path(__file__).resolve().parents[2] / "services"


# --- the one rounding rule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(days=14), "14 days"),
        (timedelta(days=13, hours=23, minutes=59, seconds=59), "14 days"),  # the issue's case
        (timedelta(days=14, microseconds=-1), "14 days"),
        (timedelta(days=13, hours=12), "14 days"),  # a half rounds up
        (timedelta(days=13, hours=11, minutes=59, seconds=59), "13 days"),
        (timedelta(days=1, hours=11), "1 day"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=23, minutes=40), "1 day"),  # 24 hours once rounded: the next unit
        (timedelta(hours=23), "23 hours"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(minutes=59, seconds=30), "1 hour"),
        (timedelta(minutes=42), "42 minutes"),
        (timedelta(seconds=61), "1 minute"),
        (timedelta(seconds=59), "59 seconds"),
        (timedelta(seconds=59, milliseconds=500), "1 minute"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(milliseconds=500), "1 second"),
        (timedelta(milliseconds=499), "0 seconds"),
        (timedelta(0), "0 seconds"),
        (timedelta(days=-3), "3 days"),  # a duration has no sign
        (timedelta(days=90), "90 days"),
    ],
)
def test_durations_round_to_the_nearest_whole_of_the_largest_unit(delta, words):
    assert duration(delta) == words


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(days=14), "in 14 days"),
        (timedelta(days=13, hours=23, minutes=59, seconds=59), "in 14 days"),
        (timedelta(hours=23), "in 23 hours"),
        (timedelta(seconds=59), "in 59 seconds"),
        (timedelta(milliseconds=499), "now"),
        (timedelta(0), "now"),
        (timedelta(milliseconds=-499), "now"),
        (timedelta(seconds=-1), "1 second ago"),
        (timedelta(hours=-3), "3 hours ago"),
        (timedelta(days=-1), "1 day ago"),
    ],
)
def test_moments_are_in_or_ago_or_now(delta, words):
    assert relative(NOW + delta, NOW) == words


@given(st.timedeltas(min_value=timedelta(days=-4000), max_value=timedelta(days=4000)))
def test_a_duration_is_off_by_at_most_half_its_unit(delta):
    count, unit = duration(delta).split(" ")
    sizes = {u.one.split(" ")[1]: u.microseconds for u in wording.UNITS} | {
        u.many.split(" ")[1]: u.microseconds for u in wording.UNITS
    }
    size = sizes[unit]
    exact = abs(delta) // timedelta(microseconds=1)
    assert abs(int(count) * size - exact) <= size // 2
    # ...said in the largest unit it reaches, or in the next one once rounding reaches it.
    largest = next((u.microseconds for u in wording.UNITS if exact >= u.microseconds), 1_000_000)
    if size != largest:
        assert size > largest and count == "1"
    assert (unit.endswith("s")) == (int(count) != 1)


# --- the one date format -----------------------------------------------------------------------


def test_one_date_and_time_format_in_utc():
    assert when(datetime(2026, 1, 19, 9, 0, tzinfo=UTC)) == "Mon 19 Jan 2026, 09:00 UTC"
    assert when(datetime(2026, 12, 9, 12, 5, 59, tzinfo=UTC)) == "Wed 9 Dec 2026, 12:05 UTC"
    # Another zone is said in UTC; a naive moment is taken as UTC (as the database gives them).
    shanghai = datetime(2026, 1, 1, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert when(shanghai) == "Wed 31 Dec 2025, 23:30 UTC"
    assert when(datetime(2026, 1, 19, 9, 0)) == "Mon 19 Jan 2026, 09:00 UTC"
    assert wording.when_relative(NOW + timedelta(days=14), NOW) == (
        "Wed 9 Dec 2026, 12:00 UTC (in 14 days)"
    )


def test_the_cli_says_moments_and_states_as_pages_and_emails_do():
    assert _when(NOW) == when(NOW) == "Wed 25 Nov 2026, 12:00 UTC"
    assert _when(None) == "-"
    assert _named("state", "inspection_acceptance") == (
        "Inspection and acceptance (inspection_acceptance)"
    )
    assert _named("process", "basic") == "Basic delivery (basic)"
    assert _named("state", "gone") == "gone" and _named("version", 3) == "3"


# --- page and email, the same words for the same instant ---------------------------------------

#: Deadlines the emails list (the reminder is the notifier's own email).
LISTED = [DeadlineKind.CONFIRMATION_WINDOW, DeadlineKind.WARRANTY]
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
OFFSETS = st.one_of(
    st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=400)),
    # near the unit boundaries, where two rounding rules part
    st.sampled_from([timedelta(days=14), timedelta(days=1), timedelta(hours=1)]).flatmap(
        lambda unit: st.timedeltas(
            min_value=unit - timedelta(seconds=2), max_value=unit + timedelta(seconds=2)
        )
    ),
)


@given(
    now=MOMENTS,
    offset=OFFSETS,
    kind=st.sampled_from(LISTED),
    reader=st.sampled_from([Role.CUSTOMER, Role.ISV, Role.ADMIN]),
)
@example(
    now=NOW,
    offset=timedelta(days=13, hours=23, minutes=59, seconds=59),
    kind=DeadlineKind.CONFIRMATION_WINDOW,
    reader=Role.CUSTOMER,
)
def test_a_running_deadline_reads_the_same_on_the_page_and_in_the_email(now, offset, kind, reader):
    due_at = now + offset
    on_page = pages.deadline_words(
        {"kind": kind.value, "status": "active", "due_at": due_at}, reader.value, now
    )
    in_email = render.deadline_view(
        Deadline(deadline_id="d", kind=kind, status="active", due_at=due_at), now, reader
    )
    assert in_email is not None
    assert on_page == in_email.sentence
    assert in_email.value == wording.when_relative(due_at, now)
    assert f"{when(due_at)} ({relative(due_at, now)})" in on_page


@given(
    left=st.floats(min_value=0, max_value=400 * 86_400, allow_nan=False),
    kind=st.sampled_from(LISTED),
    reader=st.sampled_from([Role.CUSTOMER, Role.ISV, Role.ADMIN]),
)
def test_a_paused_deadline_reads_the_same_on_the_page_and_in_the_email(left, kind, reader):
    on_page = pages.deadline_words(
        {"kind": kind.value, "status": "paused", "due_at": None, "remaining_seconds": left},
        reader.value,
        NOW,
    )
    in_email = render.deadline_view(
        Deadline(deadline_id="d", kind=kind, status="paused", remaining_seconds=left), NOW, reader
    )
    assert in_email is not None and on_page == in_email.sentence
    assert duration(timedelta(seconds=left)) in on_page


def test_the_issues_example_reads_in_14_days_on_both():
    due_at = NOW + timedelta(days=14)
    a_second_later = NOW + timedelta(seconds=1)
    on_page = pages.deadline_words(
        {"kind": "confirmation_window", "status": "active", "due_at": due_at},
        "customer",
        a_second_later,
    )
    email = render.deadline_view(
        Deadline(deadline_id="d", kind="confirmation_window", status="active", due_at=due_at),
        a_second_later,
        Role.CUSTOMER,
    )
    assert email is not None
    assert (
        on_page
        == email.sentence
        == (
            "Confirmed automatically on Wed 9 Dec 2026, 12:00 UTC (in 14 days), unless you confirm "
            "or ask for changes first."
        )
    )


def test_a_task_reads_the_same_as_the_pages_turn_and_the_emails_request():
    for process in PROCESSES.values():
        for state in process.states - TERMINAL_STATES:
            for role in next_actors(process, state):
                task = wording.TASKS[state]
                document = {"process": process.name.value, "state": state.value}
                assert pages.turn_words(document, role) == (f"Your turn: {task}.", True)
                assert EMAIL_TASKS[(role, state)] == f"Please {task}."


# --- one table per kind of word ----------------------------------------------------------------


def test_every_state_process_role_command_and_deadline_has_its_words():
    assert set(wording.STATE_LABELS) == set(State)
    assert set(wording.STAGES) == set(State)
    assert set(wording.TASKS) == set(wording.WAITING_FOR) == set(State) - TERMINAL_STATES
    assert set(wording.PROCESS_LABELS) == set(ProcessName)
    assert set(wording.ROLE_NAMES) == set(Role)
    assert set(wording.ACTIONS) == PUBLIC_DELIVERY_COMMANDS
    assert set(wording.DONE) == set(COMMAND_MODELS)
    assert set(wording.DEADLINES) == set(DeadlineKind)
    assert all(label and label[0].isupper() for label in wording.STATE_LABELS.values())


def test_pages_and_emails_name_states_from_the_one_table():
    assert pages.STATE_LABELS is wording.STATE_LABELS
    assert pages.PROCESS_LABELS is wording.PROCESS_LABELS
    assert pages.ACTIONS is wording.ACTIONS
    assert render.STAGES is wording.STAGES and render.ROLE_NAMES is wording.ROLE_NAMES
    steps = pages.steps_of({"process": "stepwise", "state": "inspection_acceptance"})
    assert [s["label"] for s in steps if s["status"] == "current"] == ["Inspection and acceptance"]


def _state_keyed_tables(path: Path) -> list[int]:
    """Lines of dict literals in ``path`` keyed by three or more states (by value or by
    ``State.X``/``S.X``, alone or inside a tuple key)."""
    names = {s.name for s in State}
    values = {s.value for s in State}

    def is_state(node: ast.AST | None) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in values
        if isinstance(node, ast.Attribute):
            return node.attr in names
        if isinstance(node, ast.Tuple):
            return any(is_state(element) for element in node.elts)
        return False

    tree = ast.parse(path.read_text(), str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict) and sum(is_state(key) for key in node.keys) >= 3
    ]


def test_no_service_keeps_words_of_its_own_per_state():
    found = {
        str(path.relative_to(SERVICES.parent)): lines
        for path in sorted(SERVICES.rglob("*.py"))
        if (lines := _state_keyed_tables(path))
    }
    assert found == {}, "state-keyed tables belong in shared/wording.py"
    # The check itself sees one.
    here = Path(wording.__file__)
    assert _state_keyed_tables(here)
