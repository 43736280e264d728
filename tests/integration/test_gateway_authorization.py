"""Authorization per object: customers and ISVs see and act on their own deliveries only;
who may open, terminate, resolve and download is checked at the door."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.client import Api
from tests.integration.gateway_support import PDF, upload


async def _two_deliveries(api: Api, parties) -> tuple[dict[str, Any], dict[str, Any], dict]:
    """Delivery ``mine`` of the fixture's customer and ISV, ``theirs`` of two other parties."""
    others = {role: api.party(role) for role in ("customer", "isv")}
    mine = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    theirs = await api.open_delivery(parties["marketplace"], others["customer"], others["isv"])
    return mine, theirs, others


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_a_party_cannot_read_anothers_delivery(api: Api, parties, role: str):
    mine, theirs, _ = await _two_deliveries(api, parties)
    status, _ = await api.request("GET", f"/v1/deliveries/{mine['delivery_id']}", parties[role])
    assert status == 200
    status, answer = await api.request(
        "GET", f"/v1/deliveries/{theirs['delivery_id']}", parties[role]
    )
    # Someone else's delivery looks exactly like one that does not exist.
    assert status == 404 and answer["error"] == "not_found"
    _, missing = await api.request("GET", "/v1/deliveries/" + "0" * 32, parties[role])
    assert answer["error"] == missing["error"]


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_the_list_never_shows_anothers_delivery(api: Api, parties, role: str):
    mine, theirs, others = await _two_deliveries(api, parties)
    for query in ("", "?state=awaiting_demand", "?limit=500"):
        status, answer = await api.request("GET", f"/v1/deliveries{query}", parties[role])
        assert status == 200
        ids = {d["delivery_id"] for d in answer["deliveries"]}
        assert ids == {mine["delivery_id"]}, query
    _, answer = await api.request("GET", "/v1/deliveries?limit=500", parties["admin"])
    assert {mine["delivery_id"], theirs["delivery_id"]} <= {
        d["delivery_id"] for d in answer["deliveries"]
    }


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_a_party_cannot_command_anothers_delivery(api: Api, parties, role: str):
    _, theirs, _ = await _two_deliveries(api, parties)
    status, answer = await api.send(
        theirs["delivery_id"], parties[role], {"type": "open_dispute", "reason": "not mine"}
    )
    assert status == 404 and answer["error"] == "not_found"
    delivery = await api.delivery(theirs["delivery_id"], parties["admin"])
    assert delivery["version"] == 1 and delivery["refusals"] == []


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_a_party_cannot_upload_to_anothers_delivery(api: Api, parties, role: str):
    mine, theirs, _ = await _two_deliveries(api, parties)
    status, answer = await upload(api, theirs["delivery_id"], parties[role])
    assert status == 404 and answer["error"] == "not_found"
    status, answer = await upload(api, mine["delivery_id"], parties[role])
    assert status == 201, answer


@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_only_marketplace_and_admin_open_deliveries(api: Api, parties, role: str):
    body = {
        "order_id": "order-by-" + role,
        "order_spec": "x",
        "product_id": "p",
        "isv_id": parties["isv"].sub,
        "customer_id": parties["customer"].sub,
        "customer_email": "c@example.com",
        "isv_email": "i@example.com",
        "process": "basic",
    }
    status, answer = await api.request("POST", "/v1/deliveries", parties[role], json=body)
    assert status == 403 and answer["error"] == "forbidden"
    opened = await api.open_delivery(parties["admin"], parties["customer"], parties["isv"])
    assert opened["delivery_id"]


@pytest.mark.parametrize(
    "command",
    [{"type": "terminate", "reason": "enough"}, {"type": "resolve_dispute", "outcome": "continue"}],
)
@pytest.mark.parametrize("role", ["customer", "isv"])
async def test_only_an_admin_terminates_and_resolves_disputes(
    api: Api, parties, role: str, command: dict
):
    mine, _, _ = await _two_deliveries(api, parties)
    status, answer = await api.send(mine["delivery_id"], parties[role], command)
    assert status == 403 and answer["error"] == "forbidden"
    assert "admin" in answer["message"]
    assert (await api.delivery(mine["delivery_id"], parties["admin"]))["refusals"] == []


async def test_the_marketplace_sends_no_commands_to_a_delivery(api: Api, parties):
    mine, _, _ = await _two_deliveries(api, parties)
    status, answer = await api.send(
        mine["delivery_id"], parties["marketplace"], {"type": "confirm"}
    )
    assert status == 403 and answer["error"] == "forbidden"


async def test_attachments_are_downloaded_by_the_deliverys_parties_and_admins_only(
    api: Api, parties
):
    mine, _, others = await _two_deliveries(api, parties)
    status, uploaded = await upload(api, mine["delivery_id"], parties["isv"])
    assert status == 201, uploaded
    path = f"/v1/attachments/{uploaded['attachment_id']}"
    for who in ("customer", "isv", "admin"):
        status, content = await api.request("GET", path, parties[who])
        assert (status, content) == (200, PDF), who
    for who in (others["customer"], others["isv"]):
        status, answer = await api.request("GET", path, who)
        assert status == 404 and answer["error"] == "not_found"
    status, answer = await api.request("GET", path, parties["marketplace"])
    assert status == 403 and answer["error"] == "forbidden"


async def test_a_command_outcome_is_read_by_its_sender_and_admins_only(api: Api, parties):
    mine, _, _ = await _two_deliveries(api, parties)
    status, answer = await api.send(mine["delivery_id"], parties["isv"], {"type": "finish"})
    assert status == 202
    path = f"/v1/commands/{answer['command_id']}"
    assert (await api.request("GET", path, parties["isv"]))[0] == 200
    assert (await api.request("GET", path, parties["admin"]))[0] == 200
    for who in (parties["customer"], api.party("isv")):
        status, answer = await api.request("GET", path, who)
        assert status == 404 and answer["error"] == "not_found"
