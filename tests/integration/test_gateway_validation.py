"""Validation at the edge: bad input answers 400/422 at once, names the field at fault, and
nothing reaches the bus (the delivery has no new history, refusal or command record)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.client import Api

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@example.com"}


def _open_body(parties, **fields: Any) -> dict[str, Any]:
    return {
        "order_id": f"order-{uuid.uuid4().hex[:12]}",
        "order_spec": "Company website",
        "product_id": "prod-1",
        "isv_id": parties["isv"].sub,
        "customer_id": parties["customer"].sub,
        "customer_email": "c@example.com",
        "isv_email": "i@example.com",
        "process": "basic",
        **fields,
    }


async def _opened(api: Api, parties) -> str:
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    return opened["delivery_id"]


@pytest.fixture
def unchanged(api: Api, parties, db):
    """Checks that a delivery got no command but its opening: nothing was published."""

    async def check(delivery_id: str) -> None:
        assert [c["type"] for c in db.commands.find({"delivery_id": delivery_id})] == [
            "open_delivery"
        ]
        delivery = await api.delivery(delivery_id, parties["admin"])
        assert delivery["version"] == 1 and delivery["refusals"] == []

    return check


def _fields(answer: dict[str, Any]) -> set[str]:
    return {f["field"] for f in answer.get("fields", [])}


async def test_malformed_json_answers_400(api: Api, parties, unchanged):
    delivery_id = await _opened(api, parties)
    for raw in (b"{not json", b"", b'{"type": "confirm"', b"\xff\xfe", b'{"a": NaN}'):
        status, answer = await api.request(
            "POST",
            f"/v1/deliveries/{delivery_id}/commands",
            parties["customer"],
            data=raw,
            headers={"Content-Type": "application/json"},
        )
        assert status == 400, raw
        assert answer["error"] == "malformed_json"
    await unchanged(delivery_id)


async def test_a_body_that_is_not_an_object_answers_400(api: Api, parties, unchanged):
    delivery_id = await _opened(api, parties)
    for body in ([], "confirm", 3, None):
        status, answer = await api.send(delivery_id, parties["customer"], body)
        assert status == 400 and answer["error"] == "malformed_json", body
    await unchanged(delivery_id)


async def test_a_deeply_nested_body_answers_4xx_not_500(api: Api, parties, unchanged):
    delivery_id = await _opened(api, parties)
    raw = b'{"type": "finish", "note": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = await api.request(
        "POST",
        f"/v1/deliveries/{delivery_id}/commands",
        parties["isv"],
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert status in (400, 422), answer
    await unchanged(delivery_id)


async def test_a_json_body_over_256_kib_answers_413(api: Api, parties, unchanged):
    delivery_id = await _opened(api, parties)
    body = {"type": "request_changes", "reason": "x" * (256 * 1024)}
    status, answer = await api.send(delivery_id, parties["customer"], body)
    assert status == 413 and answer["error"] == "body_too_large"
    await unchanged(delivery_id)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "submit_demand", "contact": CONTACT, "demands": 5}, "demands"),
        ({"type": "submit_demand", "contact": "Ann", "demands": "x"}, "contact"),
        ({"type": "finish", "attachments": "a" * 32}, "attachments"),
        ({"type": "resolve_dispute", "outcome": True}, "outcome"),
        ({"type": "request_changes", "reason": ["no"]}, "reason"),
    ],
)
async def test_a_wrong_type_answers_422_naming_the_field(
    api: Api, parties, unchanged, command, field
):
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["admin"], command)
    assert status == 422 and answer["error"] == "invalid_input"
    assert field in _fields(answer) and field in answer["message"]
    await unchanged(delivery_id)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "submit_demand", "contact": CONTACT}, "demands"),
        ({"type": "request_changes"}, "reason"),
        ({"type": "upload_contract"}, "attachment"),
        ({"type": "submit_demand", "contact": {**CONTACT, "phone": None}, "demands": "x"}, None),
    ],
)
async def test_a_missing_required_field_answers_422_naming_it(
    api: Api, parties, unchanged, command, field
):
    field = field or "contact.phone"
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["customer"], command)
    assert status == 422 and field in _fields(answer), answer
    await unchanged(delivery_id)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "submit_demand", "contact": CONTACT, "demands": ""}, "demands"),
        ({"type": "submit_demand", "contact": CONTACT, "demands": "   "}, "demands"),
        ({"type": "submit_demand", "contact": {**CONTACT, "name": ""}, "demands": "x"}, None),
        ({"type": "open_dispute", "reason": ""}, "reason"),
    ],
)
async def test_an_empty_required_field_answers_422_naming_it(
    api: Api, parties, unchanged, command, field
):
    field = field or "contact.name"
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["customer"], command)
    assert status == 422 and field in _fields(answer), answer
    await unchanged(delivery_id)


async def test_an_empty_required_field_of_a_new_delivery_is_named(api: Api, parties):
    body = _open_body(parties, order_spec="", product_id="")
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and {"order_spec", "product_id"} <= _fields(answer)


@pytest.mark.parametrize("email", ["not-an-email", "ann@", "@example.com", "ann example@x.io"])
async def test_an_invalid_email_answers_422_naming_the_field(
    api: Api, parties, unchanged, email: str
):
    delivery_id = await _opened(api, parties)
    command = {"type": "submit_demand", "contact": {**CONTACT, "email": email}, "demands": "x"}
    status, answer = await api.send(delivery_id, parties["customer"], command)
    assert status == 422 and _fields(answer) == {"contact.email"}, answer
    body = _open_body(parties, isv_email=email)
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and _fields(answer) == {"isv_email"}, answer
    await unchanged(delivery_id)


@pytest.mark.parametrize("kind", ["teleport", "expire_deadline", "open_delivery", None, 7, ["x"]])
async def test_an_unknown_command_type_answers_422(api: Api, parties, unchanged, kind):
    delivery_id = await _opened(api, parties)
    body = {"type": kind, "deadline_id": "d-1"} if kind is not None else {"reason": "x"}
    status, answer = await api.send(delivery_id, parties["admin"], body)
    assert status == 422 and answer["error"] == "unknown_command", answer
    assert answer["field"] == "type" and "submit_demand" in answer["message"]
    await unchanged(delivery_id)


async def test_opening_with_another_type_answers_422(api: Api, parties):
    body = _open_body(parties, type="terminate")
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and _fields(answer) == {"type"}


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "confirm", "extra": 1}, "extra"),
        ({"type": "submit_demand", "contact": {**CONTACT, "fax": "1"}, "demands": "x"}, None),
    ],
)
async def test_an_unexpected_field_answers_422_naming_it(
    api: Api, parties, unchanged, command, field
):
    field = field or "contact.fax"
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["customer"], command)
    assert status == 422 and _fields(answer) == {field}, answer
    body = _open_body(parties, owner="me")
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and _fields(answer) == {"owner"}, answer
    await unchanged(delivery_id)


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"type": "confirm", "$set": {"state": "completed"}}, "$set"),
        ({"type": "confirm", "state.name": "completed"}, "state.name"),
        (
            {"type": "submit_demand", "contact": {**CONTACT, "$where": "1"}, "demands": "x"},
            "contact.$where",
        ),
        ({"type": "finish", "attachments": [{"a.b": 1}]}, "attachments.0.a.b"),
    ],
)
async def test_a_key_that_could_be_a_document_operator_or_path_is_refused(
    api: Api, parties, unchanged, command, field
):
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["customer"], command)
    assert status == 422 and _fields(answer) == {field}, answer
    assert field in answer["message"]
    body = _open_body(parties, **{"$inc": {"version": 1}})
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and _fields(answer) == {"$inc"}, answer
    await unchanged(delivery_id)


async def test_an_id_of_another_system_must_be_safe(api: Api, parties):
    body = _open_body(parties, order_id="o-1/../x", isv_id="$ne")
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and {"order_id", "isv_id"} <= _fields(answer)


async def test_an_absurd_warranty_period_answers_422(api: Api, parties):
    for period in ("P99999999D", -5, "forever"):
        body = _open_body(parties, process="double_check", warranty_period=period)
        status, answer = await api.request(
            "POST", "/v1/deliveries", parties["marketplace"], json=body
        )
        assert status == 422 and _fields(answer) == {"warranty_period"}, (period, answer)


async def test_the_state_filter_must_be_a_known_state(api: Api, parties):
    for query in ("?state=bogus", "?state=", "?state=COMPLETED", "?limit=0", "?limit=x"):
        status, answer = await api.request("GET", "/v1/deliveries" + query, parties["admin"])
        assert status == 400 and answer["error"] == "invalid_query", query
    status, answer = await api.request("GET", "/v1/deliveries?state=bogus", parties["admin"])
    assert "awaiting_demand" in answer["message"] and "state" in answer["message"]
    status, _ = await api.request("GET", "/v1/deliveries?state=completed", parties["admin"])
    assert status == 200
