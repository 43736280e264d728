"""The ISV scorecard over HTTP and in the operators' command line (issue 18).

One fresh ISV's deliveries are driven through all four processes on the session's system
(a revision round, a warranty service request, a dispute ending in termination, an admin's
termination, customer confirmations and one by the clock, whose window is 8 s here), and
``GET /v1/isvs/{isv_id}/scorecard`` is checked to the exact numbers: counts and shares by
hand, times from the histories the API returns (the wall clock is not fixed), the score from
the README's formula. The same figures come out of ``delivery-center scorecard``, and out of
``scorecard rebuild`` on a copy of the deliveries whose facts were deleted; the timer
worker's refreshed table carries the same score.

Apart from the system: the read model counts each event once when the relay hands its outbox
entries over again, late or out of order, and concurrent records of one delivery's versions
converge on the newest (a scratch database, the workflow's own relay).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from services.gateway.context import Gateway
from services.gateway.pages.mine import scorecard_section
from services.runtime.collections import DELIVERIES
from services.runtime.deadline_book import DeadlineBook
from services.runtime.list_links import ListLink
from services.runtime.scorecards import (
    SCORECARD_DAYS,
    SCORECARD_TABLE,
    TABLE_ID,
    ScorecardBook,
    day_document_id,
)
from services.workflow.relay import OutboxRelay
from services.workflow.store import DeliveryStore, outbox_entries
from shared.config import Settings
from shared.domain.commands import OpenDispute, ResolveDispute
from shared.domain.delivery_facts import facts_of
from shared.domain.engine import Applied
from shared.domain.roles import Role
from shared.domain.score_periods import Period, day_key
from shared.domain.states import ProcessName
from shared.wording import COMPONENT_LABELS, points_words, score_words
from tests.integration.client import DEMAND, Api, Party, open_body
from tests.integration.rawhttp import send
from tests.integration.system import System
from tests.integration.waiting import PATIENCE, until
from tests.unit.support import ADMIN, CUSTOMER, ISV, T0, Walker, files_for, open_for

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
#: The test system's DC_CONFIRM_WINDOW, in seconds: the patience.
PATIENCE_SECONDS = 8.0
#: Written out here, not taken from the code under test: each process's ISV-owned states and
#: the stepwise stages (work state, its review state).
ISV_OWNED = {
    "basic": {"in_delivery"},
    "double_check": {"in_delivery"},
    "contract": {"awaiting_contract", "in_delivery"},
    "stepwise": {"functional_design", "ued", "development_testing"},
}
STAGES = {
    "confirm_functional_design": "functional_design",
    "confirm_ued": "ued",
    "inspection_acceptance": "development_testing",
}
WEIGHTS = {
    "customer_confirmation": 30,
    "no_disputes": 20,
    "on_time": 20,
    "first_time_right": 15,
    "completion": 15,
}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


# --- the expected figures, from the histories the API returns ----------------------------------


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def _seconds(start: datetime, end: datetime, disputes: list[tuple[datetime, datetime]]) -> float:
    paused = sum(
        max(0.0, (min(end, closed) - max(start, opened)).total_seconds())
        for opened, closed in disputes
    )
    return max(0.0, (end - start).total_seconds() - paused)


def times_of(delivery: dict[str, Any]) -> tuple[dict[str, float], dict[str, float], float]:
    """Seconds per ISV-owned state (visits that ended, dispute time left out), per stepwise
    stage, and the longest visit, read from the delivery's history."""
    history = delivery["history"]
    disputes = []
    for entry in history:
        if entry["command"] == "open_dispute":
            disputes.append((_at(entry), None))
        elif (
            disputes
            and disputes[-1][1] is None
            and (entry["command"] == "resolve_dispute" or entry["to_state"] == "terminated")
        ):
            disputes[-1] = (disputes[-1][0], _at(entry))
    assert all(closed is not None for _, closed in disputes)
    owned = ISV_OWNED[delivery["process"]]
    in_state: dict[str, float] = {}
    in_stage: dict[str, float] = {}
    stage_start: dict[str, datetime] = {}
    longest = 0.0
    start = _at(history[0])
    for entry in history[1:]:
        left, to = entry["from_state"], entry["to_state"]
        if left == to:
            continue
        if left in owned:
            seconds = _seconds(start, _at(entry), disputes)
            in_state[left] = in_state.get(left, 0.0) + seconds
            longest = max(longest, seconds)
        work = STAGES.get(left)
        if work and entry["command"] == "confirm" and work not in in_stage:
            in_stage[work] = _seconds(stage_start[work], _at(entry), disputes)
        if delivery["process"] == "stepwise" and to in STAGES.values():
            stage_start.setdefault(to, _at(entry))
        start = _at(entry)
    return in_state, in_stage, longest


def spread(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "median_seconds": statistics.median(ordered),
        "p90_seconds": ordered[math.ceil(0.9 * len(ordered)) - 1],
    }


# --- driving one ISV's deliveries ------------------------------------------------------------


@dataclass
class Driven:
    isv: Party
    admin: Party
    deliveries: dict[str, dict[str, Any]]
    answer: dict[str, Any]


async def _upload(api: Api, delivery_id: str, party: Party) -> str:
    form = aiohttp.FormData()
    form.add_field("file", PDF, filename="contract.pdf", content_type="application/pdf")
    status, answer = await api.request(
        "POST", f"/v1/deliveries/{delivery_id}/attachments", party, data=form
    )
    assert status == 201, answer
    return answer["attachment_id"]


async def _drive(api: Api, parties: dict[str, Party]) -> dict[str, str]:
    """Six deliveries of one ISV, at once; their ids by what happened to them."""
    customer, isv, admin = parties["customer"], parties["isv"], parties["admin"]

    async def opened(process: str, **fields: Any) -> str:
        answer = await api.open_delivery(
            parties["marketplace"], customer, isv, process=process, **fields
        )
        return answer["delivery_id"]

    async def steps(delivery_id: str, *bodies: tuple[Party, dict[str, Any]]) -> str:
        for party, body in bodies:
            await api.applied(delivery_id, party, body)
        return delivery_id

    async def revised() -> str:
        return await steps(
            await opened("basic"),
            (customer, DEMAND),
            (isv, {"type": "finish"}),
            (customer, {"type": "request_changes", "reason": "the cart is empty"}),
            (isv, {"type": "finish", "note": "fixed"}),
            (customer, {"type": "confirm"}),
        )

    async def warranty() -> str:
        return await steps(
            await opened("double_check", warranty_period="P30D"),
            (customer, DEMAND),
            (isv, {"type": "finish"}),
            (customer, {"type": "confirm"}),
            (customer, {"type": "request_warranty_service", "description": "cart broken"}),
            (customer, {"type": "confirm_warranty"}),
        )

    async def by_the_clock() -> str:
        delivery_id = await steps(await opened("contract"), (customer, DEMAND))
        contract = await _upload(api, delivery_id, isv)
        await steps(
            delivery_id,
            (isv, {"type": "upload_contract", "attachment": contract}),
            (isv, {"type": "finish"}),
        )
        await api.wait_for_state(delivery_id, customer, "completed")
        return delivery_id

    async def disputed() -> str:
        return await steps(
            await opened("stepwise"),
            (customer, DEMAND),
            (isv, {"type": "finish", "note": "functional design"}),
            (customer, {"type": "confirm"}),
            (isv, {"type": "finish", "note": "UED"}),
            (customer, {"type": "confirm"}),
            (isv, {"type": "open_dispute", "reason": "the customer changed the scope"}),
            (admin, {"type": "resolve_dispute", "outcome": "terminate", "note": "refund"}),
        )

    async def terminated() -> str:
        return await steps(await opened("basic"), (admin, {"type": "terminate", "reason": "x"}))

    names = ("revised", "warranty", "by_the_clock", "disputed", "terminated", "waiting")
    ids = await asyncio.gather(
        revised(), warranty(), by_the_clock(), disputed(), terminated(), opened("basic")
    )
    return dict(zip(names, ids, strict=True))


@pytest.fixture(scope="module")
async def driven(system: System) -> AsyncIterator[Driven]:
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        parties = api.parties()
        ids = await _drive(api, parties)
        deliveries = {
            name: await api.delivery(delivery_id, parties["admin"])
            for name, delivery_id in ids.items()
        }
        path = f"/v1/isvs/{parties['isv'].sub}/scorecard"
        answer: dict[str, Any] = {}

        async def settled() -> bool:
            # The relay files each delivery's facts just after its command is applied.
            nonlocal answer
            status, answer = await api.request("GET", path, parties["isv"])
            assert status == 200, answer
            figures = answer["figures"]
            return (figures["opened"], figures["completed"], figures["terminated"]) == (6, 3, 2)

        await until(settled, "the scorecard counts the six deliveries")
        yield Driven(parties["isv"], parties["admin"], deliveries, answer)


def expected_figures(deliveries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    in_state: dict[str, list[float]] = {}
    in_stage: dict[str, list[float]] = {}
    overdue = 0
    for delivery in deliveries.values():
        states, stages, longest = times_of(delivery)
        for name, seconds in states.items():
            in_state.setdefault(name, []).append(seconds)
        for name, seconds in stages.items():
            in_stage.setdefault(name, []).append(seconds)
        # None waits on the ISV now (the open one waits on its customer's demand).
        overdue += longest > PATIENCE_SECONDS
    return {
        "opened": 6,
        "completed": 3,
        "terminated": 2,
        "open_by_state": {"awaiting_demand": 1},
        "confirmed_by_customer": 2,
        "confirmed_automatically": 1,
        "customer_confirmation_share": 2 / 3,
        "time_in_state": {name: spread(values) for name, values in in_state.items()},
        "time_in_stage": {name: spread(values) for name, values in in_stage.items()},
        "revision_rounds": 1,
        "revision_rounds_per_delivery": 1 / 6,
        "warranty_requests": 1,
        "completed_warranty_deliveries": 1,
        "warranty_requests_per_warranty_delivery": 1.0,
        "disputed": 1,
        "dispute_rate": 1 / 6,
        "terminated_after_dispute": 1,
        "overdue": overdue,
        "overdue_share": overdue / 6,
    }


def expected_values(figures: dict[str, Any]) -> dict[str, float]:
    """The README's formula, written out: every component applies here."""
    rework = (
        figures["revision_rounds_per_delivery"] + figures["warranty_requests_per_warranty_delivery"]
    )
    return {
        "customer_confirmation": 2 / 3,
        "no_disputes": 1 - 1 / 6,
        "on_time": 1 - figures["overdue_share"],
        "first_time_right": max(0.0, 1 - rework / 2),
        "completion": 3 / 5,
    }


async def test_the_scorecard_of_one_isvs_deliveries_to_the_exact_numbers(driven: Driven):
    answer, deliveries = driven.answer, driven.deliveries
    assert [d["state"] for d in deliveries.values()] == [
        "completed",
        "completed",
        "completed",
        "terminated",
        "terminated",
        "awaiting_demand",
    ]
    clock = deliveries["by_the_clock"]["history"][-1]
    assert (clock["command"], clock["from_state"]) == ("expire_deadline", "awaiting_confirmation")
    today = datetime.fromisoformat(answer["computed_at"]).date()
    assert answer["isv_id"] == driven.isv.sub
    assert answer["period"] == {
        "first_day": (today - timedelta(days=89)).isoformat(),
        "last_day": today.isoformat(),
        "days": 90,
    }
    assert answer["previous_period"]["last_day"] == (today - timedelta(days=90)).isoformat()
    assert answer["patience_seconds"] == PATIENCE_SECONDS

    expected = expected_figures(deliveries)
    figures = answer["figures"]
    assert set(figures) == set(expected)
    for name in ("time_in_state", "time_in_stage"):
        assert set(figures[name]) == set(expected[name]), name
        for key, wanted in expected[name].items():
            assert figures[name][key]["count"] == wanted["count"], key
            for edge in ("median_seconds", "p90_seconds"):
                assert figures[name][key][edge] == pytest.approx(wanted[edge], abs=1e-6), key
    assert set(figures["time_in_state"]) == {
        "in_delivery",
        "awaiting_contract",
        "functional_design",
        "ued",
        "development_testing",
    }
    assert figures["time_in_state"]["in_delivery"]["count"] == 3
    assert set(figures["time_in_stage"]) == {"functional_design", "ued"}
    rest = {k: v for k, v in expected.items() if not k.startswith("time_in")}
    assert {k: figures[k] for k in rest} == rest

    values = expected_values(expected)
    total = sum(WEIGHTS[name] * value for name, value in values.items())
    score = answer["score"]
    assert score["total"] == round(total, 1)
    if expected["overdue"] == 0:  # waits of a fraction of a second against 8 s of patience
        assert score["total"] == 71.9  # 20 + 16.67 + 20 + 6.25 + 9
    assert [c["name"] for c in score["components"]] == list(WEIGHTS)
    for part in score["components"]:
        assert part["value"] == pytest.approx(values[part["name"]])
        assert part["max_points"] == WEIGHTS[part["name"]]
        assert part["points"] == round(WEIGHTS[part["name"]] * values[part["name"]], 1)
    assert answer["previous_score"] is None and answer["trend"] is None


async def test_the_timer_workers_table_carries_the_same_score(driven: Driven, db):
    """The timers service refreshes the table every DC_SCORECARD_REFRESH (1 s here)."""

    def row() -> dict[str, Any] | None:
        table = db[SCORECARD_TABLE].find_one({"_id": TABLE_ID}) or {"rows": []}
        found = [r for r in table["rows"] if r["isv_id"] == driven.isv.sub]
        counts = ("opened", "completed", "terminated")
        settled = found and [found[0][name] for name in counts] == [6, 3, 2]
        return found[0] if settled else None

    await until(lambda: row() is not None, "a refreshed table counts the ISV's six deliveries")
    found = row()
    assert found is not None
    assert found["score"] == driven.answer["score"]["total"]
    assert found["previous_score"] is None
    figures = driven.answer["figures"]
    for name in ("completed", "terminated", "customer_confirmation_share", "dispute_rate"):
        assert found[name] == figures[name], name


async def test_the_command_line_prints_the_same_scorecard(driven: Driven, system: System):
    answer = driven.answer
    as_json = cli(system.env, "scorecard", "--isv", driven.isv.sub, "--json")
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    assert printed["figures"] == answer["figures"]
    assert printed["score"] == answer["score"]
    for name in ("isv_id", "period", "previous_period", "patience_seconds", "previous_score"):
        assert printed[name] == answer[name], name

    shown = cli(system.env, "scorecard", "--isv", driven.isv.sub)
    assert shown.returncode == 0, shown.stderr
    total = answer["score"]["total"]
    assert "total" in shown.stdout and score_words(total) in shown.stdout
    for part in answer["score"]["components"]:
        assert COMPONENT_LABELS[part["name"]] in shown.stdout
        assert points_words(part["points"], part["max_points"]) in shown.stdout
    assert "Confirmed automatically" in shown.stdout and "state in_delivery" in shown.stdout

    table = cli(system.env, "scorecard", "--json")
    assert table.returncode == 0, table.stderr
    rows = json.loads(table.stdout)["rows"]
    [mine] = [r for r in rows if r["isv_id"] == driven.isv.sub]
    assert (mine["score"], mine["opened"], mine["trend"]) == (total, 6, None)
    scores = [r["score"] for r in rows]
    scored = [s for s in scores if s is not None]
    assert scored == sorted(scored, reverse=True)
    assert scores == scored + [None] * (len(scores) - len(scored))
    printed_table = cli(system.env, "scorecard")
    assert printed_table.returncode == 0, printed_table.stderr
    assert driven.isv.sub in printed_table.stdout
    assert "ISVs by delivery score" in printed_table.stdout

    refused = cli(system.env, "scorecard", "--from", "2026-11-30", "--to", "2026-11-01")
    assert refused.returncode == 1 and "--to (2026-11-01) is before --from" in refused.stderr


async def test_rebuild_restores_the_same_figures_where_the_facts_were_deleted(
    driven: Driven, system: System, db
):
    """A copy of the ISV's deliveries in a database of its own, without their facts: the
    rebuild files them again from the histories, and the scorecard is the API's."""
    name = f"dc_sc_{uuid.uuid4().hex[:10]}"
    scratch = db.client[name]
    env = {**system.env, "DC_MONGO_DB": name}
    try:
        stored = list(db[DELIVERIES].find({"isv_id": driven.isv.sub}))
        assert len(stored) == 6
        scratch[DELIVERIES].insert_many(stored)

        def card() -> dict[str, Any]:
            done = cli(env, "scorecard", "--isv", driven.isv.sub, "--json")
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        assert card()["figures"]["opened"] == 0
        for _ in range(2):  # and once more after deleting the facts it filed
            scratch[SCORECARD_DAYS].delete_many({"isv_id": driven.isv.sub})
            rebuilt = cli(env, "scorecard", "rebuild")
            assert rebuilt.returncode == 0, rebuilt.stderr
            assert "rebuilt the facts of 6 deliveries; 1 ISV scored" in rebuilt.stdout
            again = card()
            assert again["figures"] == driven.answer["figures"]
            assert again["score"] == driven.answer["score"]
        table = scratch[SCORECARD_TABLE].find_one({"_id": TABLE_ID})
        assert [r["isv_id"] for r in table["rows"]] == [driven.isv.sub]
    finally:
        db.client.drop_database(name)


# --- who may read it, and bad queries ----------------------------------------------------------


async def test_only_the_isv_itself_and_admins_read_it(api: Api, parties):
    isv = parties["isv"]
    path = f"/v1/isvs/{isv.sub}/scorecard"
    for party in (isv, parties["admin"]):
        status, answer = await api.request("GET", path, party)
        assert status == 200, answer
        assert answer["figures"]["opened"] == 0 and answer["score"]["total"] is None
    for party in (api.party("isv"), parties["customer"], parties["marketplace"]):
        status, answer = await api.request("GET", path, party)
        assert status == 403, answer
        assert answer["error"] == "forbidden"
    status, answer = await api.request("GET", path)
    assert status == 401 and answer["error"] == "unauthenticated"


@pytest.mark.parametrize(
    ("query", "status", "code", "fields"),
    [
        ("from=2026-13-01", 400, "invalid_query", ["from"]),
        ("from=2026-02-30", 400, "invalid_query", ["from"]),
        ("to=20261130", 400, "invalid_query", ["to"]),
        ("to=2026-W48-1", 400, "invalid_query", ["to"]),
        ("from=2026-1-5", 400, "invalid_query", ["from"]),
        ("from=%202026-01-05", 400, "invalid_query", ["from"]),
        ("from=2026-11-01&from=2026-11-02", 400, "invalid_query", ["from"]),
        ("from=2026-02-01&to=2026-01-31", 422, "invalid_period", ["to"]),
        # Only what was given is named: a future from alone is after today, not "to before".
        ("from=3000-01-01", 422, "invalid_period", ["from"]),
        ("from=2000-01-01", 422, "invalid_period", ["from"]),
        ("from=2000-01-01&to=2026-01-01", 422, "invalid_period", ["from", "to"]),
        ("to=0001-02-01", 422, "invalid_period", ["to"]),
        ("to=0001-03-31", 422, "invalid_period", ["to"]),
    ],
)
async def test_bad_days_and_periods_are_refused_precisely(
    api: Api, parties, query: str, status: int, code: str, fields: list[str]
):
    isv = parties["isv"]
    got, answer = await api.request("GET", f"/v1/isvs/{isv.sub}/scorecard?{query}", isv)
    assert (got, answer["error"]) == (status, code), answer
    assert [f["field"] for f in answer["fields"]] == fields
    assert answer["message"]
    if query == "from=3000-01-01":
        assert answer["message"].startswith("from (3000-01-01) is after today (")
        assert answer["message"].endswith("give to as well or an earlier from")


async def test_an_id_no_isv_can_have_is_404_and_no_party_is_a_dot_segment(
    api: Api, parties, system: System
):
    """No browser reaches /v1/isvs/../scorecard (RFC 3986 removes dot segments, even
    %2E%2E): such an id, or one with a control character, is refused in the path (sent raw
    here, as a browser would not) and when a delivery is opened."""
    admin = {"Connection": "close", **parties["admin"].headers}
    for raw, shown in (("%00", r"'\x00'"), ("%2E%2E", "'..'"), (".", "'.'"), ("x%0Ay", r"'x\ny'")):
        answer = await send(system.base_url, "GET", f"/v1/isvs/{raw}/scorecard", admin)
        assert answer.status == 404, (raw, answer)
        refusal = json.loads(answer.body)
        assert refusal["error"] == "not_found" and shown in refusal["message"], refusal
        assert "neither '.' nor '..'" in refusal["message"]
    for field in ("isv_id", "customer_id"):
        body = open_body(parties["customer"], parties["isv"], **{field: ".."})
        status, answer = await api.request(
            "POST", "/v1/deliveries", parties["marketplace"], json=body
        )
        assert status == 422 and answer["error"] == "invalid_input", answer
        [problem] = answer["fields"]
        assert problem["field"] == field and "may not be '.' or '..'" in problem["message"]


async def test_the_longest_period_is_read_with_its_previous_one(api: Api, parties):
    """3,660 days and the 3,660 before them (once a 500: twice the longest Period)."""
    last = date(2026, 11, 30)
    first = last - timedelta(days=3659)
    isv = parties["isv"]
    status, answer = await api.request(
        "GET", f"/v1/isvs/{isv.sub}/scorecard?from={first}&to={last}", isv
    )
    assert status == 200, answer
    assert answer["period"]["days"] == answer["previous_period"]["days"] == 3660


async def test_the_openapi_document_declares_the_route(api: Api):
    _, document = await api.request("GET", "/openapi.json")
    operation = document["paths"]["/v1/isvs/{isv_id}/scorecard"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"isv_id", "from", "to"}
    responses = operation["responses"]
    assert {"200", "400", "401", "403", "422"} <= set(responses)
    schema = responses["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ScorecardView"}
    view = document["components"]["schemas"]["ScorecardView"]
    assert {"figures", "score", "previous_score", "trend", "patience_seconds"} <= set(
        view["properties"]
    )


# --- the read model against redelivery, on a scratch database ----------------------------------


@pytest.fixture
async def scratch(system: System) -> AsyncIterator[Any]:
    client: AsyncMongoClient = AsyncMongoClient(system.env["DC_MONGO_URL"], tz_aware=True)
    name = f"dc_sc_{uuid.uuid4().hex[:10]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


def _walked(n: int, process: ProcessName, *moves: Any) -> list[tuple[Applied, Any]]:
    """``(applied, delivery before)`` for each command of one delivery walked through the
    engine: each ``move`` a command kind (by its right party) or ``(command, actor)``."""
    walker = Walker(process)
    walker.delivery = open_for(process, order_id=f"order-{n}")
    walker.files = files_for(walker.delivery)
    steps = []
    for move in moves:
        before = walker.delivery
        if isinstance(move, str):
            rows = [r for r in walker.process.rows_from(before.state) if r.command == move]
            applied = walker.step(rows[0])
        else:
            applied = walker.apply(*move, advance=timedelta(hours=5))
        steps.append((applied, before))
    return steps


def _three_deliveries() -> list[list[tuple[Applied, Any]]]:
    return [
        _walked(
            1,
            ProcessName.BASIC,
            "submit_demand",
            "finish",
            "request_changes",
            "finish",
            "confirm",
        ),
        _walked(
            2,
            ProcessName.STEPWISE,
            "submit_demand",
            "finish",
            (OpenDispute(reason="scope"), CUSTOMER),
            (ResolveDispute(outcome="continue"), ADMIN),
            "confirm",
        ),
        _walked(
            3,
            ProcessName.DOUBLE_CHECK,
            "submit_demand",
            "finish",
            "confirm",
            "request_warranty_service",
        ),
    ]


async def test_a_redelivered_or_late_event_counts_once(scratch):
    """The relay hands the same outbox entries over again (a relay cut short, the sweep), and
    an older version's after a newer one: the figures do not move."""
    published: list[Any] = []

    async def publish(event: Any) -> None:
        published.append(event)

    store = DeliveryStore(scratch)
    relay = OutboxRelay(store, DeadlineBook(scratch), publish, ScorecardBook(scratch))
    book = ScorecardBook(scratch)
    walks = _three_deliveries()
    outboxes = [
        [(applied.delivery.delivery_id, outbox_entries(applied, before)) for applied, before in w]
        for w in walks
    ]
    period = Period(date(2026, 1, 1), date(2026, 1, 31))
    now = T0 + timedelta(days=200)
    patience = timedelta(days=14)

    async def card() -> Any:
        return await book.scorecard(ISV.id, period, now, patience)

    for entries in outboxes:
        for delivery_id, outbox in entries:
            assert any("scorecard" in entry for entry in outbox)
            await relay.relay(delivery_id, outbox)
    first = await card()
    newest = {w[-1][0].delivery.delivery_id: facts_of(w[-1][0].delivery) for w in walks}
    assert {
        f.delivery_id: f for f in await book.facts_of_isv(ISV.id, period.first, period.last)
    } == newest
    assert first.figures.opened == 3 and first.figures.revision_rounds == 1
    assert first.figures.disputed == 1 and first.figures.completed == 1
    assert first.figures.warranty_requests == 0  # the warranty delivery is not completed yet

    for entries in outboxes:  # every entry again, in order
        for delivery_id, outbox in entries:
            await relay.relay(delivery_id, outbox)
    assert await card() == first
    for entries in outboxes:  # the oldest ones last: a late redelivery
        for delivery_id, outbox in reversed(entries):
            await relay.relay(delivery_id, outbox)
    assert await card() == first
    assert {
        f.delivery_id: f for f in await book.facts_of_isv(ISV.id, period.first, period.last)
    } == newest


async def test_concurrent_records_of_one_deliverys_versions_converge_on_the_newest(scratch):
    book = ScorecardBook(scratch)
    walks = _three_deliveries()
    versions = [facts_of(applied.delivery) for w in walks for applied, _ in w]
    newest = {w[-1][0].delivery.delivery_id: facts_of(w[-1][0].delivery) for w in walks}
    for seed in range(3):
        await scratch[SCORECARD_DAYS].delete_many({})
        shuffled = versions * 2
        random.Random(seed).shuffle(shuffled)
        filed = await asyncio.gather(*(book.record(f) for f in shuffled))
        assert any(filed) and not all(filed)
        found = await book.facts_of_isv(ISV.id, date(2026, 1, 1), date(2026, 1, 31))
        assert {f.delivery_id: f for f in found} == newest
    # All three were opened the same day: one document, written once per filing.
    [document] = await scratch[SCORECARD_DAYS].find({}).to_list()
    assert document["_id"] == day_document_id(day_key(T0), ISV.id)
    assert len(document["facts"].splitlines()) == 3


async def test_an_isvs_list_shows_its_section_as_read_until_the_refresh_interval_passes(scratch):
    """The ISV's /me keeps its scorecard section for ``DC_SCORECARD_REFRESH`` (the big ISV's
    costs about 70 ms to read), saying when it was read; after that it reads afresh."""
    refresh = timedelta(seconds=2)
    gateway = Gateway(
        settings=Settings(scorecard_refresh=refresh),
        db=scratch,
        broker=None,  # the section never publishes
        limiter=None,  # nor limits
    )
    link = ListLink(party_id=ISV.id, role=Role.ISV, signed_at=datetime.now(UTC))
    book = ScorecardBook(scratch)
    first, second = (facts_of(w[-1][0].delivery) for w in _three_deliveries()[:2])
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await book.record(first.model_copy(update={"opened_at": yesterday}))
    shown = await scorecard_section(gateway, link)
    read_at = time.monotonic()
    assert 'id="score-computed"' in shown
    await book.record(second.model_copy(update={"opened_at": yesterday}))
    again = await scorecard_section(gateway, link)
    if time.monotonic() - read_at < refresh.total_seconds():
        assert again == shown
    while time.monotonic() - read_at < refresh.total_seconds():
        await asyncio.sleep(0.05)
    fresh = await scorecard_section(gateway, link)
    assert fresh != shown
    opened = re.compile(r'id="figure-opened"><dt>[^<]*</dt><dd>(\d+)</dd>')
    assert [int(opened.search(html).group(1)) for html in (shown, fresh)] == [1, 2]
