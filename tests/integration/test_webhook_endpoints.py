"""The admin's webhook endpoints API against the real system: register (the secret shown once),
list and read without secrets, refusals (scheme, credentials, event types, addresses the
installation refuses: the test system allows loopback only), enable and disable, delete,
rotate the secret, and the delivery log."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.client import Api, Party

SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{32}")
#: A type only an admin's command produces, so no deadline of another test delivers to it.
QUIET_TYPE = "dispute_resolved"


def _body(**fields: Any) -> dict[str, Any]:
    return {
        "url": f"http://127.0.0.1:9/hooks/{uuid.uuid4().hex[:8]}",
        "event_types": [QUIET_TYPE],
        **fields,
    }


async def _create(api: Api, admin: Party, **fields: Any) -> dict[str, Any]:
    status, answer = await api.request("POST", "/v1/webhooks", admin, json=_body(**fields))
    assert status == 201, answer
    return answer


def _shows_no_secret(answer: Any) -> None:
    assert "whsec_" not in repr(answer)
    assert "secret" not in answer and "previous_secret" not in answer


async def test_registering_answers_201_with_location_and_the_secret_once(api: Api, parties):
    admin = parties["admin"]
    body = _body(
        event_types=["delivery_completed", "delivery_terminated", "delivery_completed"],
        description="payments",
    )
    async with api.session.post(
        api.base_url + "/v1/webhooks", headers=admin.headers, json=body
    ) as response:
        assert response.status == 201
        answer = await response.json()
        location = response.headers["Location"]
    assert location == f"/v1/webhooks/{answer['webhook_id']}"
    assert re.fullmatch(r"[0-9a-f]{32}", answer["webhook_id"])
    assert SECRET.fullmatch(answer["secret"])
    assert answer["url"] == body["url"]
    assert answer["event_types"] == ["delivery_completed", "delivery_terminated"]
    assert answer["description"] == "payments" and answer["enabled"] is True
    assert datetime.fromisoformat(answer["created_at"]).tzinfo is not None
    assert set(answer) == {
        "webhook_id",
        "url",
        "event_types",
        "description",
        "enabled",
        "created_at",
        "secret",
    }

    status, shown = await api.request("GET", location, admin)
    assert status == 200
    _shows_no_secret(shown)
    assert {k: shown[k] for k in answer if k != "secret"} == {
        k: v for k, v in answer.items() if k != "secret"
    }
    assert shown["disabled_at"] is None and shown["disabled_reason"] is None

    status, listed = await api.request("GET", "/v1/webhooks", admin)
    assert status == 200
    mine = [w for w in listed["webhooks"] if w["webhook_id"] == answer["webhook_id"]]
    assert mine == [shown]
    for webhook in listed["webhooks"]:
        _shows_no_secret(webhook)


async def test_localhost_by_name_is_allowed_when_loopback_is(api: Api, parties):
    answer = await _create(api, parties["admin"], url="http://localhost:9/hook")
    assert answer["url"] == "http://localhost:9/hook" and answer["description"] is None


@pytest.mark.parametrize("role", ["marketplace", "customer", "isv"])
async def test_only_an_admin_manages_webhooks(api: Api, parties, role: str):
    webhook = await _create(api, parties["admin"])
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    requests = [
        ("POST", "/v1/webhooks", {"json": _body()}),
        ("GET", "/v1/webhooks", {}),
        ("GET", path, {}),
        ("PATCH", path, {"json": {"enabled": False}}),
        ("DELETE", path, {}),
        ("POST", path + "/rotate-secret", {}),
        ("GET", path + "/deliveries", {}),
    ]
    for method, where, kwargs in requests:
        status, answer = await api.request(method, where, parties[role], **kwargs)
        assert (status, answer["error"]) == (403, "forbidden"), (method, where)
        status, answer = await api.request(method, where, None, **kwargs)
        assert (status, answer["error"]) == (401, "unauthenticated"), (method, where)
    status, shown = await api.request("GET", path, parties["admin"])
    assert status == 200 and shown["enabled"] is True


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"url": "ftp://127.0.0.1/hook"}, "url", "http or https"),
        ({"url": "https://user:pw@127.0.0.1/hook"}, "url", "user name or password"),
        ({"url": "not a url"}, "url", "http or https"),
        ({"event_types": ["delivery_completed", "no_such_event"]}, "event_types", "no_such_event"),
        ({"event_types": []}, "event_types", "at least one"),
        ({"description": "d" * 501}, "description", "500"),
        # The test system allows loopback only: private and link-local stay refused.
        ({"url": "http://10.0.0.1/hook"}, "url", "private address (10.0.0.1)"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url", "link-local"),
        ({"url": "http://192.168.0.10:8080/"}, "url", "private"),
        ({"url": "http://[fe80::1]/"}, "url", "link-local"),
        ({"url": "http://does-not-exist.invalid/hook"}, "url", "resolve"),
    ],
)
async def test_a_refused_endpoint_names_its_field_and_is_not_stored(
    api: Api, parties, db, fields: dict, field: str, words: str
):
    before = db.webhook_endpoints.count_documents({})
    body = _body(**fields)
    status, answer = await api.request("POST", "/v1/webhooks", parties["admin"], json=body)
    assert status == 422, answer
    assert answer["error"] == "invalid_input"
    assert [f["field"] for f in answer["fields"]] == [field]
    assert words in answer["fields"][0]["message"], answer
    assert db.webhook_endpoints.count_documents({"url": body["url"]}) == 0
    assert db.webhook_endpoints.count_documents({}) >= before


async def test_unknown_fields_are_refused(api: Api, parties):
    body = _body(secret="whsec_mine")
    status, answer = await api.request("POST", "/v1/webhooks", parties["admin"], json=body)
    assert status == 422 and [f["field"] for f in answer["fields"]] == ["secret"]
    webhook = await _create(api, parties["admin"])
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    for change in ({}, {"enabled": "maybe"}, {"enabled": True, "url": "http://127.0.0.1/"}):
        status, answer = await api.request("PATCH", path, parties["admin"], json=change)
        assert status == 422 and answer["error"] == "invalid_input", change


#: Values pydantic's lax mode would take for a boolean: the reported ones and more.
LOOSE_BOOLEANS = ["false", 0, "yes", "on", "1", 1.0, "true", 1, "no", "off", "0", 0.0, "", None]


async def test_enabled_takes_only_a_json_boolean(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    for loose in LOOSE_BOOLEANS:
        status, answer = await api.request("PATCH", path, admin, json={"enabled": loose})
        assert (status, answer["error"]) == (422, "invalid_input"), (loose, answer)
        assert [f["field"] for f in answer["fields"]] == ["enabled"], loose
        stored = db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})
        assert stored["enabled"] is True and stored.get("disabled_at") is None, loose
    status, answer = await api.request("PATCH", path, admin, json={"enabled": False})
    assert (status, answer["enabled"]) == (200, False)
    status, answer = await api.request("PATCH", path, admin, json={"enabled": "true"})
    assert (status, answer["error"]) == (422, "invalid_input")
    assert db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})["enabled"] is False


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_types": [1]}, "event_types.0"),
        ({"event_types": ["delivery_completed", 2.5]}, "event_types.1"),
        ({"event_types": [QUIET_TYPE, True]}, "event_types.1"),
        ({"event_types": [None]}, "event_types.0"),
        ({"description": 5}, "description"),
        ({"description": False}, "description"),
        ({"url": 80}, "url"),
    ],
)
async def test_a_new_endpoint_takes_strings_as_strings_only(
    api: Api, parties, db, fields: dict, field: str
):
    body = _body(**fields)
    status, answer = await api.request("POST", "/v1/webhooks", parties["admin"], json=body)
    assert (status, answer["error"]) == (422, "invalid_input"), answer
    assert [f["field"] for f in answer["fields"]] == [field]
    if isinstance(body["url"], str):
        assert db.webhook_endpoints.count_documents({"url": body["url"]}) == 0


async def test_disabling_and_enabling_again(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    status, disabled = await api.request("PATCH", path, admin, json={"enabled": False})
    assert status == 200, disabled
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == f"disabled by admin {admin.sub}"
    assert datetime.fromisoformat(disabled["disabled_at"]) <= datetime.now(UTC)
    _shows_no_secret(disabled)
    # Disabling again keeps the first record of it.
    status, again = await api.request("PATCH", path, admin, json={"enabled": False})
    assert (status, again) == (200, disabled)
    assert (await api.request("GET", path, admin))[1] == disabled

    status, enabled = await api.request("PATCH", path, admin, json={"enabled": True})
    assert status == 200
    assert enabled["enabled"] is True
    assert enabled["disabled_at"] is None and enabled["disabled_reason"] is None
    stored = db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})
    assert "disabled_at" not in stored and "disabled_reason" not in stored
    assert stored["secret"] == webhook["secret"]


async def test_a_deleted_endpoint_is_gone(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    db.webhook_deliveries.insert_one(_delivery(webhook["webhook_id"], "delivered", 0))
    status, body = await api.request("DELETE", path, admin)
    assert (status, body) == (204, b"")
    for method, where, kwargs in (
        ("GET", path, {}),
        ("DELETE", path, {}),
        ("PATCH", path, {"json": {"enabled": True}}),
        ("POST", path + "/rotate-secret", {}),
        ("GET", path + "/deliveries", {}),
    ):
        status, answer = await api.request(method, where, admin, **kwargs)
        assert (status, answer["error"]) == (404, "not_found"), (method, where)
    _, listed = await api.request("GET", "/v1/webhooks", admin)
    assert webhook["webhook_id"] not in {w["webhook_id"] for w in listed["webhooks"]}
    assert db.webhook_deliveries.count_documents({"webhook_id": webhook["webhook_id"]}) == 0


async def test_rotating_the_secret_keeps_the_previous_one_for_a_day(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    status, rotated = await api.request("POST", path + "/rotate-secret", admin)
    assert status == 200, rotated
    assert rotated["webhook_id"] == webhook["webhook_id"]
    assert SECRET.fullmatch(rotated["secret"]) and rotated["secret"] != webhook["secret"]
    stored = db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})
    assert stored["secret"] == rotated["secret"]
    assert stored["previous_secret"] == webhook["secret"]
    until = stored["previous_secret_until"]
    assert until == datetime.fromisoformat(rotated["previous_secret_until"])
    left = until - datetime.now(UTC)
    assert timedelta(hours=23) < left <= timedelta(hours=24)
    _shows_no_secret((await api.request("GET", path, admin))[1])

    # Rotated again within the day: the original stays the previous secret, to the end of
    # its day (receivers most likely still use it); the one in between stops at once.
    for _ in range(2):
        status, again = await api.request("POST", path + "/rotate-secret", admin)
        assert status == 200 and again["secret"] not in (rotated["secret"], webhook["secret"])
        stored = db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})
        assert (stored["secret"], stored["previous_secret"]) == (again["secret"], webhook["secret"])
        assert stored["previous_secret_until"] == until
        assert datetime.fromisoformat(again["previous_secret_until"]) == until
        rotated = again


async def test_a_rotation_after_the_previous_secrets_day_starts_a_new_day(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}/rotate-secret"
    status, first = await api.request("POST", path, admin)
    assert status == 200, first
    # The day of the original secret ends (just now, or an hour ago).
    for ended in (timedelta(0), timedelta(hours=1)):
        passed = datetime.now(UTC) - ended
        db.webhook_endpoints.update_one(
            {"_id": webhook["webhook_id"]}, {"$set": {"previous_secret_until": passed}}
        )
        status, second = await api.request("POST", path, admin)
        assert status == 200, second
        stored = db.webhook_endpoints.find_one({"_id": webhook["webhook_id"]})
        assert (stored["secret"], stored["previous_secret"]) == (second["secret"], first["secret"])
        left = stored["previous_secret_until"] - datetime.now(UTC)
        assert timedelta(hours=23) < left <= timedelta(hours=24)
        assert (
            datetime.fromisoformat(second["previous_secret_until"])
            == (stored["previous_secret_until"])
        )
        first = second


def _delivery(webhook_id: str, status: str, minutes_ago: int) -> dict[str, Any]:
    event_id = uuid.uuid4().hex
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "_id": f"{webhook_id}:{event_id}",
        "webhook_id": webhook_id,
        "event_id": event_id,
        "event_type": QUIET_TYPE,
        "body": json.dumps({"event_id": event_id}),
        "status": status,
        "created_at": at,
        "next_attempt_at": None,
        "attempts": [
            {"at": at, "status": None, "latency_ms": 10_000, "error": "timed out"},
            {"at": at + timedelta(seconds=5), "status": 200, "latency_ms": 12, "error": None},
        ],
    }


async def test_the_delivery_log_is_newest_first_and_bounded(api: Api, parties, db):
    admin = parties["admin"]
    webhook = await _create(api, admin)
    path = f"/v1/webhooks/{webhook['webhook_id']}/deliveries"
    status, log = await api.request("GET", path, admin)
    assert (status, log) == (200, {"deliveries": []})

    # Written as the notifier writes them; none pending, so it leaves them alone.
    stored = [_delivery(webhook["webhook_id"], s, m) for s, m in [("delivered", 3), ("failed", 1)]]
    stored.append(_delivery(webhook["webhook_id"], "delivered", 2))
    db.webhook_deliveries.insert_many(stored)
    other = await _create(api, admin)
    db.webhook_deliveries.insert_one(_delivery(other["webhook_id"], "delivered", 0))

    status, log = await api.request("GET", path, admin)
    assert status == 200
    newest_first = [stored[1], stored[2], stored[0]]
    assert [d["event_id"] for d in log["deliveries"]] == [d["event_id"] for d in newest_first]
    first = log["deliveries"][0]
    assert set(first) == {
        "event_id",
        "event_type",
        "status",
        "created_at",
        "next_attempt_at",
        "attempts",
    }
    assert first["status"] == "failed" and first["next_attempt_at"] is None
    assert datetime.fromisoformat(first["created_at"]) == stored[1]["created_at"].replace(
        microsecond=stored[1]["created_at"].microsecond // 1000 * 1000
    )
    assert [(a["status"], a["latency_ms"], a["error"]) for a in first["attempts"]] == [
        (None, 10_000, "timed out"),
        (200, 12, None),
    ]

    status, log = await api.request("GET", path + "?limit=2", admin)
    assert status == 200
    assert [d["event_id"] for d in log["deliveries"]] == [d["event_id"] for d in newest_first[:2]]
    for bad in ("0", "501", "x", "-1"):
        status, answer = await api.request("GET", f"{path}?limit={bad}", admin)
        assert (status, answer["error"]) == (400, "invalid_query"), bad
