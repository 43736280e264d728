"""The stream of record over HTTP on the session's system: ``GET /v1/events`` pages every public
event in recorded order, each the same JSON as on ``dc.events``, for admin and marketplace
only; and ``POST /v1/webhooks/{id}/replay?since=`` sends logged events again to a real
receiver on loopback (the session's system allows loopback webhooks).

Events of other tests are interleaved in the log: each test looks at its own delivery's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo.database import Database

from services.runtime.event_log import encode_cursor
from tests.integration.client import BASIC_EVENTS, Api, Party
from tests.integration.event_stream import EventTap
from tests.integration.system import System
from tests.integration.waiting import until
from tests.integration.webhook_receiver import Receiver

BASIC = BASIC_EVENTS


#: Endpoints the running test registered (``_endpoint``).
REGISTERED: list[str] = []


@pytest.fixture(autouse=True)
def _endpoints_disabled_after(db: Database) -> Iterator[None]:
    """The session's system goes on after the test: it would send every later event to the
    test's endpoints, and retry for the rest of the session those nobody answers."""
    yield
    db.webhook_endpoints.update_many(
        {"_id": {"$in": list(REGISTERED)}}, {"$set": {"enabled": False}}
    )
    REGISTERED.clear()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def tap(system: System):
    events = EventTap(system.amqp_url, "delivery.basic.#")
    yield events
    events.close()


async def _basic_delivery(api: Api, parties: dict[str, Party]) -> str:
    """A basic delivery run to completion; its id."""
    return await api.basic_delivery(parties)


class Reader:
    """A client of ``GET /v1/events`` keeping its cursor, as a system catching up would."""

    def __init__(self, api: Api, party: Party, limit: int = 2):
        self.api, self.party, self.limit = api, party, limit
        self.cursor: str | None = None
        self.events: list[dict[str, Any]] = []
        self.pages = 0

    async def catch_up(self) -> None:
        """Read pages with ``after=next`` until one comes back empty."""
        while True:
            params = {"limit": str(self.limit)}
            if self.cursor is not None:
                params["after"] = self.cursor
            status, page = await self.api.request("GET", "/v1/events", self.party, params=params)
            assert status == 200, page
            assert set(page) == {"events", "next"}
            assert len(page["events"]) <= self.limit
            self.pages += 1
            if not page["events"]:
                assert page["next"] == self.cursor
                return
            assert page["next"] and page["next"] != self.cursor
            self.cursor = page["next"]
            self.events.extend(page["events"])

    def of(self, delivery_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("delivery_id") == delivery_id]

    async def until_seen(self, delivery_id: str, types: list[str]) -> None:
        async def seen() -> bool:
            await self.catch_up()
            return [e["event_type"] for e in self.of(delivery_id)] == types

        await until(seen, f"{types} of {delivery_id} in GET /v1/events")


async def test_the_stream_of_record_pages_each_event_once_in_order_as_published(
    api: Api, parties: dict[str, Party], tap: EventTap
):
    delivery_id = await _basic_delivery(api, parties)
    reader = Reader(api, parties["marketplace"])
    await reader.until_seen(delivery_id, BASIC)
    logged = reader.of(delivery_id)
    assert [e["version"] for e in logged] == [1, 2, 3, 4]
    assert len({e["event_id"] for e in reader.events}) == len(reader.events)
    assert reader.pages > 2
    published = await tap.wait_for(lambda got: len(tap.of(delivery_id)) >= len(BASIC))
    by_id = {r.body["event_id"]: r.body for r in published}
    assert all(by_id[e["event_id"]] == e for e in logged)

    # Later: nothing new for this reader but others' events; an admin reads the same log.
    admin = Reader(api, parties["admin"], limit=500)
    await admin.catch_up()
    assert admin.of(delivery_id) == logged


async def test_a_cursor_from_long_ago_reads_from_the_start(api: Api, parties: dict[str, Party]):
    """Found by a hostile tester: years below 1000 were written without padding, so hours
    compared wrongly and an early cursor read nothing."""
    delivery_id = await _basic_delivery(api, parties)
    await Reader(api, parties["admin"], limit=500).until_seen(delivery_id, BASIC)
    for year in (1, 999, 1969):
        cursor = encode_cursor(datetime(year, 1, 1, tzinfo=UTC), "a")
        status, page = await api.request(
            "GET", "/v1/events", parties["admin"], params={"after": cursor, "limit": "500"}
        )
        assert status == 200, page
        assert page["events"] and page["next"] != cursor, year


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_only_admins_and_marketplaces_read_the_stream(api: Api, parties, role):
    status, answer = await api.request("GET", "/v1/events", parties[role])
    assert status == 403, answer


@pytest.mark.parametrize(
    "query",
    [
        {"after": "not-a-cursor"},
        {"after": "MjAyNS0wMS0wMVQwMDowMDowMA"},
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "x"},
    ],
)
async def test_a_bad_cursor_or_limit_is_refused(api: Api, parties, query):
    status, answer = await api.request("GET", "/v1/events", parties["admin"], params=query)
    assert status == 400, answer
    assert answer["error"] == "invalid_query"
    assert next(iter(query)) in answer["message"]


async def _endpoint(api: Api, admin: Party, url: str, event_types: list[str]) -> str:
    body = {"url": url, "event_types": event_types}
    status, answer = await api.request("POST", "/v1/webhooks", admin, json=body)
    assert status == 201, answer
    REGISTERED.append(answer["webhook_id"])
    return answer["webhook_id"]


def _replay_path(webhook_id: str) -> str:
    return f"/v1/webhooks/{webhook_id}/replay"


async def test_a_replay_sends_the_logged_events_again(
    api: Api, parties: dict[str, Party], receiver: Receiver
):
    admin = parties["admin"]
    name = uuid.uuid4().hex[:8]
    webhook_id = await _endpoint(api, admin, receiver.url(name), ["delivery_completed"])
    before = datetime.now(UTC) - timedelta(seconds=1)
    delivery_id = await _basic_delivery(api, parties)
    await until(
        lambda: bool(receiver.events(name, delivery_id)), "delivery_completed at the receiver"
    )
    [(event_id, event)] = receiver.events(name, delivery_id)
    assert event["event_type"] == "delivery_completed"
    # The replay reads the log, where an event shows once settled: wait until it does.
    await Reader(api, admin, limit=500).until_seen(delivery_id, BASIC)

    since = before.isoformat().replace("+00:00", "Z")
    status, answer = await api.request(
        "POST", _replay_path(webhook_id), admin, params={"since": since}
    )
    assert status == 202, answer
    assert answer["webhook_id"] == webhook_id and answer["queued"] >= 1
    assert "next_since" not in answer
    await until(lambda: len(receiver.events(name, delivery_id)) == 2, "the replayed event")
    assert receiver.events(name, delivery_id)[1] == (event_id, event)

    # The log keeps both attempts of the one delivery.
    async def both_attempts() -> bool:
        path = f"/v1/webhooks/{webhook_id}/deliveries"
        status, log = await api.request("GET", path, admin)
        assert status == 200, log
        [entry] = [d for d in log["deliveries"] if d["event_id"] == event_id]
        return entry["status"] == "delivered" and len(entry["attempts"]) == 2

    await until(both_attempts, "both attempts in the delivery log")

    # An endpoint registered after the event gets it by a replay, once.
    other = uuid.uuid4().hex[:8]
    newer = await _endpoint(api, admin, receiver.url(other), ["delivery_completed"])
    status, answer = await api.request("POST", _replay_path(newer), admin, params={"since": since})
    assert status == 202 and answer["queued"] >= 1, answer
    await until(lambda: bool(receiver.events(other, delivery_id)), "the replay to a newer endpoint")
    assert receiver.events(other, delivery_id) == [(event_id, event)]

    # Since a time after every event (an offset other than Z): nothing is queued.
    later = (datetime.now(UTC) + timedelta(hours=2)).astimezone(timezone(timedelta(hours=2)))
    status, answer = await api.request(
        "POST", _replay_path(webhook_id), admin, params={"since": later.isoformat()}
    )
    assert status == 202 and answer == {"webhook_id": webhook_id, "queued": 0}
    # Like every 202, it says where to follow up: the endpoint's delivery log.
    url = api.base_url + _replay_path(webhook_id)
    params = {"since": later.isoformat()}
    async with api.session.post(url, headers=admin.headers, params=params) as response:
        assert response.status == 202
        assert response.headers["Location"] == f"/v1/webhooks/{webhook_id}/deliveries"


async def test_a_replay_to_a_disabled_endpoint_is_refused(api: Api, parties):
    admin = parties["admin"]
    webhook_id = await _endpoint(api, admin, "http://127.0.0.1:9/hooks/x", ["delivery_completed"])
    path = f"/v1/webhooks/{webhook_id}"
    status, _ = await api.request("PATCH", path, admin, json={"enabled": False})
    assert status == 200
    since = {"since": "2025-01-01T00:00:00Z"}
    status, answer = await api.request("POST", _replay_path(webhook_id), admin, params=since)
    assert status == 409, answer
    assert answer["error"] == "webhook_disabled" and "enable" in answer["message"]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"since": ""},
        {"since": "yesterday"},
        {"since": "2025-01-01T00:00:00"},
        {"since": "2025-01-01"},
        {"since": "2025-13-01T00:00:00Z"},
        {"since": "0001-01-01T00:00:00+01:00"},
    ],
)
async def test_a_replay_needs_a_date_time_with_an_offset(api: Api, parties, query):
    admin = parties["admin"]
    webhook_id = await _endpoint(api, admin, "http://127.0.0.1:9/hooks/x", ["delivery_completed"])
    status, answer = await api.request("POST", _replay_path(webhook_id), admin, params=query)
    assert status == 400, answer
    assert answer["error"] == "invalid_query" and "since" in answer["message"]


async def test_a_replay_is_for_an_admin_and_a_known_endpoint(api: Api, parties):
    since = {"since": "2025-01-01T00:00:00Z"}
    status, answer = await api.request("POST", _replay_path("nope"), parties["admin"], params=since)
    assert status == 404, answer
    status, answer = await api.request(
        "POST", _replay_path("nope"), parties["marketplace"], params=since
    )
    assert status == 403, answer
