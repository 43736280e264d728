"""Bad input answers 4xx at once with a readable message and changes nothing."""

from __future__ import annotations

from tests.integration.client import Api


async def _opened(api: Api, parties) -> str:
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    return opened["delivery_id"]


async def test_malformed_json_is_refused(api: Api, parties):
    delivery_id = await _opened(api, parties)
    status, answer = await api.request(
        "POST",
        f"/v1/deliveries/{delivery_id}/commands",
        parties["customer"],
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert answer["error"] == "malformed_json"
    assert (await api.delivery(delivery_id, parties["customer"]))["version"] == 1


async def test_a_missing_required_field_is_named(api: Api, parties):
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(
        delivery_id,
        parties["customer"],
        {
            "type": "submit_demand",
            "contact": {"name": "Ann", "phone": "+1 555 0100"},
            "demands": "x",
        },
    )
    assert status == 422
    assert [f["field"] for f in answer["fields"]] == ["contact.email"]
    assert "contact.email" in answer["message"]
    assert (await api.delivery(delivery_id, parties["customer"]))["version"] == 1


async def test_an_unknown_command_type_is_refused(api: Api, parties):
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(delivery_id, parties["customer"], {"type": "teleport"})
    assert status == 422
    assert answer["error"] == "unknown_command"
    assert "submit_demand" in answer["message"]


async def test_opening_without_a_required_field_is_refused(api: Api, parties):
    status, answer = await api.request(
        "POST",
        "/v1/deliveries",
        parties["marketplace"],
        json={"order_id": "o-1", "process": "basic"},
    )
    assert status == 422
    assert {"order_spec", "customer_email"} <= {f["field"] for f in answer["fields"]}


async def test_requests_without_a_token_are_refused(api: Api):
    status, answer = await api.request("GET", "/v1/deliveries")
    assert status == 401
    assert answer["error"] == "unauthenticated"


async def test_a_refused_command_is_recorded_with_its_reason(api: Api, parties):
    delivery_id = await _opened(api, parties)
    outcome = await api.command(delivery_id, parties["isv"], {"type": "finish"})
    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "wrong_state"

    outcome = await api.command(delivery_id, parties["customer"], {"type": "confirm"})
    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "wrong_state"

    delivery = await api.delivery(delivery_id, parties["customer"])
    assert delivery["version"] == 1 and delivery["state"] == "awaiting_demand"
    assert [(r["command"], r["code"]) for r in delivery["refusals"]] == [
        ("finish", "wrong_state"),
        ("confirm", "wrong_state"),
    ]


async def test_a_command_from_the_wrong_role_is_recorded_as_refused(api: Api, parties):
    delivery_id = await _opened(api, parties)
    outcome = await api.command(
        delivery_id,
        parties["isv"],
        {
            "type": "submit_demand",
            "contact": {"name": "I", "phone": "123", "email": "i@x.io"},
            "demands": "x",
        },
    )
    assert outcome["status"] == "rejected"
    assert outcome["reason"] == "role_not_allowed"
