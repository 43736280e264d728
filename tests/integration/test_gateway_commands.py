"""Commands: 202 with a command id once the broker confirmed; an Idempotency-Key makes a retry
the same command, and the same key with another body is refused."""

from __future__ import annotations

import uuid

from tests.integration.client import Api

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@example.com"}


async def _opened(api: Api, parties) -> str:
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    return opened["delivery_id"]


async def test_an_accepted_command_is_on_the_bus_when_202_is_answered(api: Api, parties, db):
    delivery_id = await _opened(api, parties)
    body = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
    status, answer = await api.send(delivery_id, parties["customer"], body)
    assert status == 202 and answer["status"] == "accepted"
    assert db.commands.find_one({"_id": answer["command_id"]})["type"] == "submit_demand"
    outcome = await api.outcome(answer["command_id"], parties["customer"])
    assert outcome["status"] == "applied"


async def test_a_retry_with_the_same_idempotency_key_is_the_same_command(api: Api, parties, db):
    delivery_id = await _opened(api, parties)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
    first = await api.send(delivery_id, parties["customer"], body, headers=key)
    # The same body with its keys in another order is the same request.
    second = await api.send(
        delivery_id, parties["customer"], dict(reversed(body.items())), headers=key
    )
    assert first[0] == second[0] == 202
    assert first[1]["command_id"] == second[1]["command_id"]
    assert (await api.outcome(first[1]["command_id"], parties["customer"]))["status"] == "applied"
    third = await api.send(delivery_id, parties["customer"], body, headers=key)
    assert third[1]["command_id"] == first[1]["command_id"]
    delivery = await api.delivery(delivery_id, parties["customer"])
    assert delivery["version"] == 2
    assert [h["command"] for h in delivery["history"]].count("submit_demand") == 1


async def test_the_same_idempotency_key_with_another_body_answers_422(api: Api, parties):
    delivery_id = await _opened(api, parties)
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, _ = await api.send(
        delivery_id, parties["customer"], {"type": "open_dispute", "reason": "late"}, headers=key
    )
    assert status == 202
    status, answer = await api.send(
        delivery_id, parties["customer"], {"type": "open_dispute", "reason": "other"}, headers=key
    )
    assert status == 422 and answer["error"] == "idempotency_key_reused"


async def test_idempotency_keys_belong_to_their_caller(api: Api, parties):
    delivery_id = await _opened(api, parties)
    key = {"Idempotency-Key": "shared-key-" + uuid.uuid4().hex}
    body = {"type": "open_dispute", "reason": "late"}
    _, mine = await api.send(delivery_id, parties["customer"], body, headers=key)
    status, theirs = await api.send(delivery_id, parties["isv"], body, headers=key)
    assert status == 202 and theirs["command_id"] != mine["command_id"]


async def test_an_overlong_idempotency_key_answers_400(api: Api, parties):
    delivery_id = await _opened(api, parties)
    status, answer = await api.send(
        delivery_id,
        parties["customer"],
        {"type": "confirm"},
        headers={"Idempotency-Key": "k" * 201},
    )
    assert status == 400 and answer["error"] == "invalid_idempotency_key"
