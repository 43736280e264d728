"""Signed webhooks end to end: a real HTTP receiver (``webhook_receiver``, on loopback)
registered as an endpoint of the session's system gets each event it subscribed to, signed per
Standard Webhooks, retried until it answers 2xx (the test systems retry a second apart,
doubling); a disabled endpoint gets nothing; one that keeps failing is disabled and the admin
emailed (on a system of its own that gives up after four seconds).

Endpoints are written straight into ``webhook_endpoints`` as the gateway stores them
(``shared.contracts.webhooks.WebhookEndpoint``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from shared.contracts.webhooks import (
    SECRET_BYTES,
    SECRET_PREFIX,
    SUBSCRIBABLE_EVENT_TYPES,
    WebhookEndpoint,
)
from tests.integration.client import BASIC_EVENTS, Api, Party
from tests.integration.faults import CALM, api_for, label
from tests.integration.system import System, running_system
from tests.integration.waiting import PATIENCE, until
from tests.integration.webhook_receiver import Hit, Receiver, disable_endpoints_of
from tooling.mailsink import MailSink

ADMIN_EMAIL = "admin@example.com"  # DC_ADMIN_EMAIL of the test systems
BASIC = BASIC_EVENTS


def _secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _verifies(hit: Hit, secret: str) -> bool:
    """The spec's check, written out: HMAC-SHA256 with the base64-decoded secret after
    ``whsec_`` over ``id.timestamp.body``, one of the space-separated ``v1,`` signatures."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{hit.headers['webhook-id']}.{hit.headers['webhook-timestamp']}.{hit.body}"
    expected = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest()).decode()
    return f"v1,{expected}" in hit.headers["webhook-signature"].split(" ")


def _register(
    db: Database, url: str, event_types=SUBSCRIBABLE_EVENT_TYPES, *, enabled: bool = True
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        webhook_id=f"wh_{uuid.uuid4().hex}",
        url=url,
        event_types=sorted(event_types),
        secret=_secret(),
        enabled=enabled,
        created_at=datetime.now(UTC),
    )
    db.webhook_endpoints.insert_one({"_id": endpoint.webhook_id, **endpoint.model_dump()})
    return endpoint


@pytest.fixture(scope="module")
def server() -> Iterator[Receiver]:
    with Receiver() as receiving:
        yield receiving


@pytest.fixture
def receiver(server: Receiver, db: Database) -> Iterator[Receiver]:
    """The receiver, for endpoints on the session's system: disabled after the test, as the
    system goes on (it would send them every later event, and retry once the receiver is
    gone)."""
    yield server
    disable_endpoints_of(db, server)


def _parties(api: Api) -> dict[str, Party]:
    return api.parties()


async def _basic_delivery(api: Api) -> str:
    """A basic delivery run to completion; its id."""
    return await api.basic_delivery(api.parties())


async def _all_arrived(receiver: Receiver, name: str, delivery_id: str, types: list[str]):
    def arrived() -> bool:
        got = {h.event["event_type"] for h in receiver.of(name, delivery_id) if h.status == 200}
        return set(types) <= got

    await until(arrived, f"{types} at {name} for {delivery_id}")


async def test_every_event_arrives_signed(receiver: Receiver, api: Api, db: Database):
    endpoint = _register(db, receiver.url("all"))
    delivery_id = await _basic_delivery(api)
    await _all_arrived(receiver, "all", delivery_id, BASIC)
    hits = sorted(receiver.of("all", delivery_id), key=lambda h: h.event["version"])
    assert [h.event["event_type"] for h in hits] == BASIC
    assert [h.event["version"] for h in hits] == [1, 2, 3, 4]
    for hit in hits:
        assert _verifies(hit, endpoint.secret), hit.headers
        assert hit.headers["webhook-id"] == hit.event["event_id"]
        assert hit.headers["Content-Type"] == "application/json"
        assert hit.headers["User-Agent"] == f"Delivery-Center-Webhooks/{version('delivery-center')}"
        assert abs(int(hit.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 600
    assert hits[-1].event["how"] == "confirmed_by_customer"

    def ours() -> list[dict[str, Any]]:
        stored = db.webhook_deliveries.find({"webhook_id": endpoint.webhook_id})
        return [d for d in stored if json.loads(d["body"])["delivery_id"] == delivery_id]

    # The notifier records an attempt once its answer is in: the receiver may be first.
    await until(
        lambda: [d["status"] for d in ours()] == ["delivered"] * 4, "four deliveries recorded"
    )
    for delivery in ours():
        assert delivery["_id"] == f"{endpoint.webhook_id}:{delivery['event_id']}"
        assert [a["status"] for a in delivery["attempts"]] == [200]


async def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth(
    receiver: Receiver, api: Api, db: Database
):
    url = receiver.url("flaky", [500, 500, 500, 200])
    endpoint = _register(db, url, ["delivery_opened"])
    p = _parties(api)
    opened = await api.open_delivery(p["marketplace"], p["customer"], p["isv"])
    hits = lambda: receiver.of("flaky", opened["delivery_id"])  # noqa: E731
    await until(lambda: any(h.status == 200 for h in hits()), "the fourth attempt answered 200")
    assert [h.status for h in hits()] == [500, 500, 500, 200]
    assert len({h.headers["webhook-id"] for h in hits()}) == 1
    assert all(_verifies(h, endpoint.secret) for h in hits())
    [delivery] = [
        d
        for d in db.webhook_deliveries.find({"webhook_id": endpoint.webhook_id})
        if json.loads(d["body"])["delivery_id"] == opened["delivery_id"]
    ]

    def delivered() -> bool:
        current = db.webhook_deliveries.find_one({"_id": delivery["_id"]})
        return current["status"] == "delivered"

    await until(delivered, "the delivery recorded as delivered")
    delivery = db.webhook_deliveries.find_one({"_id": delivery["_id"]})
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert [a["error"] for a in delivery["attempts"]][:3] == ["answered HTTP 500"] * 3
    assert delivery["attempts"][-1]["error"] is None
    assert delivery["next_attempt_at"] is None
    # Waits back off: about 1, 2 and 4 s (the base doubling), never less.
    times = [a["at"] for a in delivery["attempts"]]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert all(gap >= wait - 0.01 for gap, wait in zip(gaps, [1, 2, 4], strict=True)), gaps


async def test_a_disabled_endpoint_gets_nothing(receiver: Receiver, api: Api, db: Database):
    off = _register(db, receiver.url("off"), enabled=False)
    _register(db, receiver.url("control"))
    delivery_id = await _basic_delivery(api)
    await _all_arrived(receiver, "control", delivery_id, BASIC)
    assert receiver.of("off") == []
    assert db.webhook_deliveries.count_documents({"webhook_id": off.webhook_id}) == 0
    # One queued before it was disabled fails without an attempt.
    queued = {
        "_id": f"{off.webhook_id}:e-{uuid.uuid4().hex}",
        "webhook_id": off.webhook_id,
        "event_id": "e-stale",
        "event_type": "delivery_opened",
        "body": "{}",
        "status": "pending",
        "created_at": datetime.now(UTC),
        "next_attempt_at": datetime.now(UTC),
        "attempts": [],
    }
    db.webhook_deliveries.insert_one(queued)

    def settled() -> bool:
        return db.webhook_deliveries.find_one({"_id": queued["_id"]})["status"] != "pending"

    await until(settled, "the stale delivery settled")
    stale = db.webhook_deliveries.find_one({"_id": queued["_id"]})
    assert (stale["status"], stale["attempts"]) == ("failed", [])
    assert receiver.of("off") == []


async def test_an_endpoint_gets_only_the_types_it_subscribed_to(
    receiver: Receiver, api: Api, db: Database
):
    ends = _register(db, receiver.url("ends"), ["delivery_completed"])
    _register(db, receiver.url("control-2"))
    delivery_id = await _basic_delivery(api)
    await _all_arrived(receiver, "control-2", delivery_id, BASIC)
    await _all_arrived(receiver, "ends", delivery_id, ["delivery_completed"])
    assert [h.event["event_type"] for h in receiver.of("ends", delivery_id)] == [
        "delivery_completed"
    ]
    types = Counter(
        d["event_type"] for d in db.webhook_deliveries.find({"webhook_id": ends.webhook_id})
    )
    assert set(types) == {"delivery_completed"}


async def test_rotating_twice_keeps_signing_with_the_original_and_the_newest(
    receiver: Receiver, api: Api, db: Database
):
    admin = api.party("admin")
    body = {"url": receiver.url("rotated"), "event_types": ["delivery_opened"]}
    status, created = await api.request("POST", "/v1/webhooks", admin, json=body)
    assert status == 201, created
    rotate = f"/v1/webhooks/{created['webhook_id']}/rotate-secret"
    secrets_shown = [created["secret"]]
    for _ in range(3):
        status, rotated = await api.request("POST", rotate, admin)
        assert status == 200, rotated
        secrets_shown.append(rotated["secret"])
    original, *between, newest = secrets_shown
    p = _parties(api)
    opened = await api.open_delivery(p["marketplace"], p["customer"], p["isv"])
    await _all_arrived(receiver, "rotated", opened["delivery_id"], ["delivery_opened"])
    [hit] = receiver.of("rotated", opened["delivery_id"])
    assert _verifies(hit, original) and _verifies(hit, newest), hit.headers
    assert not any(_verifies(hit, secret) for secret in between)
    assert len(hit.headers["webhook-signature"].split(" ")) == 2


@pytest.fixture(scope="module", autouse=True)
def impatient_starting(mail: MailSink, request) -> Iterator[Future[System]]:
    """A system giving up on a webhook after four seconds, started in the background as the
    module begins: its processes start while the tests on the session's system wait for
    deliveries and retries. Stopped and dropped after the module."""
    system = contextlib.ExitStack()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="impatient") as starter:
        starting = starter.submit(
            system.enter_context,
            running_system(mail.port, f"{label(request)}-4s", DC_WEBHOOK_RETRY_FOR="4", **CALM),
        )
        try:
            yield starting
        finally:
            with contextlib.suppress(Exception):  # a failed start: the test using it says why
                starting.result()
            system.close()


@pytest.fixture
def impatient(impatient_starting: Future[System]) -> System:
    return impatient_starting.result(timeout=PATIENCE)


async def test_an_endpoint_failing_past_the_retry_span_is_disabled_and_the_admin_told(
    server: Receiver, impatient: System, mail: MailSink
):
    url = server.url("broken", [500])
    with MongoClient(impatient.env["DC_MONGO_URL"], tz_aware=True) as client:
        db = client[impatient.env["DC_MONGO_DB"]]
        endpoint = _register(db, url, ["delivery_opened"])
        async with api_for(impatient) as api:
            p = _parties(api)
            await api.open_delivery(p["marketplace"], p["customer"], p["isv"])

        def failed() -> bool:
            return (
                db.webhook_deliveries.count_documents(
                    {"webhook_id": endpoint.webhook_id, "status": "failed"}
                )
                == 1
            )

        await until(failed, "the delivery given up")
        [delivery] = list(db.webhook_deliveries.find({"webhook_id": endpoint.webhook_id}))
        statuses = [a["status"] for a in delivery["attempts"]]
        assert len(statuses) >= 2 and set(statuses) == {500}
        assert len(server.of("broken")) == len(statuses)
        stored = db.webhook_endpoints.find_one({"_id": endpoint.webhook_id})
        assert stored["enabled"] is False
        assert stored["disabled_at"] is not None
        assert delivery["event_id"] in stored["disabled_reason"]
        assert "HTTP 500" in stored["disabled_reason"]
    subject = f"Webhook endpoint {url} disabled"
    [alert] = await mail.wait_for_async(lambda m: str(m["Subject"]) == subject)
    assert str(alert["To"]) == ADMIN_EMAIL
    assert endpoint.webhook_id in alert.get_content()
