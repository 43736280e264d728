"""Each party's list fields and the walk that reads them (services/runtime/party_lists.py).

The walk runs against an in-memory stand-in for the deliveries collection that answers the
one query shape it sends (``{field: {"$in": [...]}}``), so its ordering, its pages and its
budget are checked on many hand-made histories without a database.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.runtime import party_lists
from services.runtime.party_lists import (
    DONE,
    LIST_FIELD,
    OTHERS,
    WALKED_GROUPS,
    YOURS,
    Position,
    calendar_days,
    day_weight,
    list_fields,
    list_fields_of,
    list_group,
    list_key,
    walk,
)
from shared.domain.actions import Situation, whose_turn
from shared.domain.processes import PROCESSES
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, ProcessName, State

IN_WARRANTY = State.IN_WARRANTY

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("process", list(PROCESSES))
def test_the_group_is_whose_turn_it_is(process):
    for state in PROCESSES[process].states:
        for dispute, service in ((False, False), (True, False), (False, True), (True, True)):
            situation = Situation(process, state, dispute, service and state == IN_WARRANTY)
            turn = whose_turn(situation)
            for role in (Role.CUSTOMER, Role.ISV):
                group = list_group(situation, role)
                if state in TERMINAL_STATES:
                    assert group == DONE
                elif dispute:
                    assert group == OTHERS  # only an administrator acts
                elif situation.warranty_service_requested:
                    assert group == (YOURS if role == Role.ISV else OTHERS)  # the ISV owes it
                else:
                    assert group == (YOURS if role in turn else OTHERS), (process, state, role)


def test_a_warranty_request_is_the_isvs_turn_until_a_dispute_is_resolved_after_it():
    asked = NOW - timedelta(days=2)
    stored = {
        "process": "double_check",
        "state": "in_warranty",
        "customer_id": "c-1",
        "isv_id": "i-1",
        "updated_at": NOW,
        "warranty_requests": [],
    }
    day = "2026-11-30"
    assert list_fields_of(stored) == {"customer_list": "c-1/you", "isv_list": f"i-1/other/{day}"}
    requested = {**stored, "warranty_requests": [{"description": "broken", "at": asked}]}
    assert list_fields_of(requested) == {
        "customer_list": f"c-1/other/{day}",
        "isv_list": "i-1/you",
    }
    # A dispute resolved before the request leaves it awaited; one resolved after decides anew.
    for resolved, isv_list in ((asked - timedelta(1), "i-1/you"), (NOW, f"i-1/other/{day}")):
        dispute = {"status": "resolved", "resolved_at": resolved}
        assert list_fields_of({**requested, "dispute": dispute})["isv_list"] == isv_list
    # While a dispute is open, only an administrator acts.
    opened = {**requested, "dispute": {"status": "open"}}
    assert list_fields_of(opened)["isv_list"] == f"i-1/other/{day}"
    # Once the warranty is over, it is finished for both.
    assert list_fields_of({**requested, "state": "completed"})["isv_list"] == f"i-1/done/{day}"


def test_the_fields_name_each_party_its_group_and_the_day_of_the_last_change():
    fields = list_fields(
        situation=Situation(ProcessName.BASIC, State.IN_DELIVERY),
        customer_id="c-1",
        isv_id="i-1",
        updated_at=datetime(2026, 11, 30, 23, 59, 59, 999_000, tzinfo=UTC),
    )
    assert fields == {"customer_list": "c-1/other/2026-11-30", "isv_list": "i-1/you"}
    stored = {
        "process": "basic",
        "state": "completed",
        "dispute": {"status": "resolved"},
        "customer_id": "c-1",
        "isv_id": "i-1",
        "updated_at": NOW,
    }
    assert list_fields_of(stored) == {
        "customer_list": "c-1/done/2026-11-30",
        "isv_list": "i-1/done/2026-11-30",
    }
    disputed = {**stored, "state": "in_delivery", "dispute": {"status": "open"}}
    assert list_fields_of(disputed)["isv_list"] == "i-1/other/2026-11-30"
    assert list_key("i-1", YOURS, "2026-11-30") == "i-1/you"


def test_positions_sort_by_the_stored_millisecond_then_the_id():
    first = {"_id": "a" * 32, "updated_at": NOW}
    later = {"_id": "0" * 32, "updated_at": NOW + timedelta(milliseconds=1)}
    tie = {"_id": "b" * 32, "updated_at": NOW}
    assert Position.of(first) < Position.of(tie) < Position.of(later)
    assert Position.of(first).millis == int(NOW.timestamp()) * 1000
    assert Position.of(later).day == "2026-11-30"
    midnight = {"_id": "c" * 32, "updated_at": datetime(2026, 12, 1, tzinfo=UTC)}
    assert Position.of(midnight).day == "2026-12-01"


def test_the_calendar_counts_every_day_since_the_newest_recorded_up_to_tomorrow():
    recorded = ["2026-11-27", "2026-11-20"]
    assert calendar_days(recorded, date(2026, 11, 30)) == [
        "2026-12-01",
        "2026-11-30",
        "2026-11-29",
        "2026-11-28",
        "2026-11-27",
        "2026-11-20",
    ]
    assert calendar_days([], date(2026, 11, 30)) == ["2026-12-01", "2026-11-30"]
    assert calendar_days(["2026-12-01"], date(2026, 11, 30)) == ["2026-12-01"]


def test_days_weigh_what_of_them_has_passed():
    assert day_weight("2026-11-29", NOW) == 1.0
    assert day_weight("2026-11-30", NOW) == pytest.approx(15 / 24)
    assert day_weight("2026-12-01", NOW) == 0.0


# --- the walk ------------------------------------------------------------------------------------


class _Cursor:
    def __init__(self, documents: list[dict[str, Any]]):
        self.documents = documents

    async def to_list(self) -> list[dict[str, Any]]:
        return self.documents


class Deliveries:
    """The ``find({field: {"$in": keys}}, projection)`` of a collection, in memory."""

    def __init__(self, documents: list[dict[str, Any]]):
        self.documents = documents
        self.queries: list[int] = []

    def find(self, query: dict[str, Any], projection: Any = None) -> _Cursor:
        [(name, condition)] = query.items()
        keys = set(condition["$in"])
        self.queries.append(len(keys))
        # In any order: the walk must sort what it reads.
        found = [dict(d) for d in self.documents if d.get(name) in keys]
        random.Random(len(self.queries)).shuffle(found)
        return _Cursor(found)


def _history(seed: int, count: int, party: str = "i-1") -> list[dict[str, Any]]:
    """``count`` deliveries of ISV ``party`` (and a few of another ISV), changed over the last
    90 days, some many on one day, some in the same millisecond."""
    pick = random.Random(seed)
    states = ["awaiting_demand", "in_delivery", "awaiting_confirmation", "completed", "terminated"]
    documents = []
    for n in range(count):
        busy_day = pick.random() < 0.3
        ago = timedelta(days=3) if busy_day else timedelta(minutes=pick.randrange(90 * 24 * 60))
        updated = NOW - ago
        if pick.random() < 0.1 and documents:
            updated = documents[-1]["updated_at"]  # the same millisecond as another
        document = {
            "_id": f"{n:032x}",
            "process": "basic",
            "state": pick.choice(states),
            "customer_id": f"c-{n % 7}",
            "isv_id": party if pick.random() < 0.9 else "i-other",
            "updated_at": updated.replace(microsecond=updated.microsecond // 1000 * 1000),
            "product_id": pick.choice(["p-1", "p-2", "p-3"]),
        }
        document.update(list_fields_of(document))
        documents.append(document)
    return documents


def _expected(documents: list[dict[str, Any]], party: str, keep=lambda d: True) -> list[str]:
    rows = []
    for group in WALKED_GROUPS:
        mine = [
            d
            for d in documents
            if d["isv_id"] == party
            and list_group(Situation.of_document(d), Role.ISV) == group
            and keep(d)
        ]
        rows += [d["_id"] for d in sorted(mine, key=Position.of, reverse=True)]
    return rows


def _days(documents: list[dict[str, Any]]) -> list[str]:
    recorded = {Position.of(d).day for d in documents} | {"2026-06-01"}
    return calendar_days(sorted(recorded, reverse=True), NOW.date())


async def _all_pages(deliveries, days, room, budget, keep=lambda d: True, groups=WALKED_GROUPS):
    """Every page of the walk, following ``resume``; the ids in order, and each page."""
    seen: list[str] = []
    pages = []
    after = None
    while True:
        walked = await walk(
            deliveries,
            days,
            Role.ISV,
            "i-1",
            groups=groups,
            after=after,
            room=room,
            budget=budget,
            keep=keep,
            projection={},
            now=NOW,
        )
        pages.append(walked)
        assert len(walked.rows) <= room
        seen += [document["_id"] for _, document in walked.rows]
        if walked.resume is None:
            return seen, pages
        group, after = walked.resume
        groups = groups[groups.index(group) :]
        assert len(pages) < 1000, "the walk goes on forever"


@pytest.mark.parametrize("seed", range(6))
async def test_pages_of_the_walk_list_each_delivery_once_in_order(seed):
    documents = _history(seed, 150)
    deliveries = Deliveries(documents)
    for room in (1, 7, 30):
        seen, pages = await _all_pages(deliveries, _days(documents), room, budget=1000)
        assert seen == _expected(documents, "i-1"), room
        assert all(walked.stopped_at is None for walked in pages)
        # Every page but the last is full.
        assert all(len(walked.rows) == room for walked in pages[:-1])
    assert max(deliveries.queries) <= party_lists.MAX_WINDOW_DAYS


@pytest.mark.parametrize("seed", range(4))
async def test_a_narrow_filter_stops_at_its_budget_and_goes_on_from_there(seed):
    documents = _history(seed, 200)
    deliveries = Deliveries(documents)

    def keep(document: dict[str, Any]) -> bool:
        return document["product_id"] == "p-3" and document["state"] != "terminated"

    seen, pages = await _all_pages(deliveries, _days(documents), room=10, budget=25, keep=keep)
    assert seen == _expected(documents, "i-1", keep)
    stopped = [walked for walked in pages if walked.stopped_at]
    assert stopped, "a budget of 25 over 200 deliveries stops somewhere"
    for walked in pages:
        assert walked.examined <= 25
        if walked.stopped_at:
            assert walked.examined == 25


async def test_a_walk_of_one_group_keeps_to_it():
    documents = _history(11, 120)
    deliveries = Deliveries(documents)
    seen, _ = await _all_pages(deliveries, _days(documents), room=9, budget=1000, groups=(DONE,))
    done = [i for i in _expected(documents, "i-1") if _group_of(documents, i) == DONE]
    assert seen == done


def _group_of(documents: list[dict[str, Any]], delivery_id: str) -> str:
    document = next(d for d in documents if d["_id"] == delivery_id)
    return list_group(Situation.of_document(document), Role.ISV)


async def test_the_page_after_the_last_of_a_group_starts_the_next_group():
    documents = _history(3, 60)
    others = [i for i in _expected(documents, "i-1") if _group_of(documents, i) == OTHERS]
    walked = await walk(
        Deliveries(documents),
        _days(documents),
        Role.ISV,
        "i-1",
        room=len(others),
        budget=1000,
        keep=lambda d: True,
        projection={},
        now=NOW,
    )
    assert [d["_id"] for _, d in walked.rows] == others
    assert walked.resume == (DONE, None)


async def test_quiet_days_cost_one_query_per_window():
    documents = _history(5, 40)
    old = datetime(2025, 1, 1, tzinfo=UTC)
    lonely = {
        "_id": "f" * 32,
        "process": "basic",
        "state": "completed",
        "customer_id": "c",
        "isv_id": "i-1",
        "updated_at": old,
        "product_id": "p-1",
    }
    lonely.update(list_fields_of(lonely))
    documents.append(lonely)
    recorded = sorted({Position.of(d).day for d in documents}, reverse=True)
    every_day = [(NOW.date() - timedelta(days=n)).isoformat() for n in range(0, 700)]
    days = calendar_days(sorted(set(recorded) | set(every_day), reverse=True), NOW.date())
    deliveries = Deliveries(documents)
    seen, _ = await _all_pages(deliveries, days, room=200, budget=1000)
    assert seen[-1] == "f" * 32
    # 700 days, two groups: a few dozen windows, not a query per day.
    assert len(deliveries.queries) < 40, deliveries.queries


@pytest.mark.parametrize("bad", [{"room": 0}, {"room": 3, "groups": (YOURS,)}])
async def test_the_walk_refuses_no_room_and_unwalked_groups(bad):
    with pytest.raises(ValueError):
        await walk(Deliveries([]), [], Role.ISV, "i-1", keep=bool, projection={}, budget=10, **bad)


def test_windows_aim_at_the_rows_still_wanted():
    assert party_lists._next_window(0, 2, 0, 30, 80) == 8  # nothing yet: four times more
    assert party_lists._next_window(0, 200, 0, 30, 80) == party_lists.MAX_WINDOW_DAYS
    assert party_lists._next_window(14, 1, 14, 31, 80) == 2  # 14 a day: 2 days, not 3
    assert party_lists._next_window(14, 1, 14, 5, 80) == 1  # never less than a day
    assert party_lists._next_window(2, 10, 2, 30, 80) == 128  # sparse: as far as allowed
    assert party_lists._next_window(10, 1, 1, 30, 80) == 8  # one kept in ten: the budget


def test_each_role_has_its_field():
    assert set(LIST_FIELD) == {Role.CUSTOMER, Role.ISV}
