"""Commands at the edges (issue 15, kinds 8 and 9).

Kind 8: an order opened again, at once or later, is the same delivery: the same order gives
202 with the same ids, another order under the same ``order_id`` gives 409
``order_already_open`` naming the delivery, whether or not the first open is applied yet.

Kind 9: every 202 that accepts a command carries ``Location: /v1/commands/{command_id}``; a
delivery whose open is accepted and not applied yet answers 202 with its status to whoever
may see it, and refuses commands with 409 ``delivery_pending``; a command published on the bus
and never recorded answers a plain 404.

"Before it is applied" is made certain by stopping the workflow: nothing is applied while it
is stopped, and the commands wait in their queue until it runs again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.openapi import openapi_document
from services.gateway.opening import order_differences, order_of
from services.gateway.requests import fingerprint
from shared.contracts.queues import APPLY_COMMAND_ACTOR, COMMANDS_QUEUE
from shared.domain.commands import OpenDelivery
from shared.domain.engine import delivery_id_for
from shared.domain.roles import Actor, Role
from tests.integration.bus import publish_raw
from tests.integration.client import Api, Party, open_body
from tests.integration.system import System
from tests.integration.waiting import until

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
ROLES = ("marketplace", "customer", "isv", "admin")


async def _call(
    api: Api, method: str, path: str, party: Party, **kwargs: Any
) -> tuple[int, Any, dict[str, str]]:
    """Like ``Api.request``, with the answer's headers too."""
    headers = {**party.headers, **kwargs.pop("headers", {})}
    async with api.session.request(
        method, api.base_url + path, headers=headers, **kwargs
    ) as response:
        return response.status, await response.json(), dict(response.headers)


def _order(parties: dict[str, Party], **fields: Any) -> dict[str, Any]:
    return open_body(
        parties["customer"],
        parties["isv"],
        **{"process": "double_check", "warranty_period": "P30D", **fields},
    )


def _same_order_written_otherwise(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The same order as other systems may write it: each is the same request."""
    return [
        {"type": "open_delivery", **body},
        dict(reversed(body.items())),
        {**body, "customer_email": body["customer_email"].upper()},
        {**body, "order_spec": f"  {body['order_spec']}  "},
        {**body, "warranty_period": 30 * 24 * 3600},
        {**body, "warranty_period": "PT720H"},
    ]


#: Each a change to one field of the order, and the field the 409 names.
OTHER_ORDERS = [
    ({"order_spec": "Another website"}, "order_spec"),
    ({"product_id": "prod-shop"}, "product_id"),
    ({"isv_id": "isv-other"}, "isv_id"),
    ({"customer_id": "customer-other"}, "customer_id"),
    ({"customer_email": "other@customer.example.com"}, "customer_email"),
    ({"isv_email": "other@isv.example.com"}, "isv_email"),
    ({"warranty_period": "P60D"}, "warranty_period"),
    ({"process": "basic", "warranty_period": None}, "process"),
]


async def _open(
    api: Api, marketplace: Party, body: dict[str, Any], key: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    headers = {"Idempotency-Key": key} if key else {}
    return await _call(api, "POST", "/v1/deliveries", marketplace, json=body, headers=headers)


def _assert_opened(answers: list[tuple[int, Any, dict[str, str]]], delivery_id: str) -> None:
    command_id = f"open:{delivery_id}"
    for status, answer, headers in answers:
        assert status == 202, answer
        assert answer == {
            "delivery_id": delivery_id,
            "command_id": command_id,
            "status": "accepted",
        }
        assert headers["Location"] == f"/v1/commands/{command_id}"


def _assert_already_open(
    answers: list[tuple[int, Any, dict[str, str]]], delivery_id: str, fields: list[str]
) -> None:
    for (status, answer, _), field in zip(answers, fields, strict=True):
        assert status == 409, answer
        assert answer["error"] == "order_already_open"
        assert answer["delivery_id"] == delivery_id
        assert field in answer["message"]
        assert field in {f["field"] for f in answer["fields"]}, answer


def _judged(body: dict[str, Any]) -> dict[str, Any]:
    """The order as the gateway keeps it, as ``open_delivery`` judges it (``type`` dropped)."""
    body = {k: v for k, v in body.items() if k != "type"}
    marketplace = Actor(id="shop", role=Role.MARKETPLACE)
    return order_of(OpenDelivery.model_validate(body), marketplace, datetime.now(UTC))


_PARTIES = {
    "customer": Party("customer", "c-1", ""),
    "isv": Party("isv", "i-1", ""),
}


@settings(max_examples=60, deadline=None)
@given(variant=st.integers(0, 5), spaces=st.text(" \t\n", max_size=3))
def test_the_same_order_written_otherwise_is_the_same_order(variant: int, spaces: str):
    body = _order(_PARTIES)
    other = _same_order_written_otherwise(body)[variant]
    other["order_spec"] = spaces + other["order_spec"] + spaces
    assert order_differences(_judged(body), _judged(other)) == []
    # The kept fingerprint, the same for every retry of the order, is what accept compares.
    assert fingerprint(_judged(body)) == fingerprint(_judged(other))


@settings(max_examples=60, deadline=None)
@given(change=st.sampled_from(OTHER_ORDERS), other=st.sampled_from(OTHER_ORDERS))
def test_another_order_under_the_same_id_names_what_differs(change, other):
    body = _order(_PARTIES)
    (fields, field), (more, _) = change, other
    differing = order_differences(_judged(body), _judged({**body, **fields}))
    assert field in differing and set(differing) <= {"process", "warranty_period", field}
    assert fingerprint(_judged(body)) != fingerprint(_judged({**body, **fields}))
    # Differences are named on either side, whichever open came first.
    both = {**body, **fields, **more}
    assert set(order_differences(_judged(both), _judged(body))) == set(
        order_differences(_judged(body), _judged(both))
    )


@pytest.fixture
async def resume_workflow(system: System) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Stops the workflow, so nothing is applied; the test calls the given function to run it
    again, and it runs again after the test in any case."""
    workflow = system.services["workflow"]

    async def resume() -> None:
        if workflow.process is None or workflow.process.poll() is not None:
            await asyncio.to_thread(system.restart, "workflow")

    await asyncio.to_thread(workflow.stop)
    try:
        yield resume
    finally:
        await resume()


async def _applied(api: Api, command_id: str, party: Party) -> None:
    outcome = await api.outcome(command_id, party)
    assert outcome["status"] == "applied", outcome


async def test_one_order_opened_at_once_is_one_delivery_before_and_after_it_is_applied(
    api: Api, parties, db, resume_workflow
):
    marketplace = parties["marketplace"]
    body = _order(parties)
    delivery_id = delivery_id_for(body["order_id"])

    # The example: two opens of one order, other keys, 10 ms apart, none applied yet.
    first = await _open(api, marketplace, body, key=uuid.uuid4().hex)
    await asyncio.sleep(0.01)
    second = await _open(api, marketplace, body, key=uuid.uuid4().hex)
    _assert_opened([first, second], delivery_id)

    # Several at once: other keys, no key, the same order written otherwise.
    variants = [body, body, *_same_order_written_otherwise(body)]
    keys = [uuid.uuid4().hex, None, *[uuid.uuid4().hex for _ in variants[2:]]]
    answers = await asyncio.gather(
        *(_open(api, marketplace, v, k) for v, k in zip(variants, keys, strict=True))
    )
    _assert_opened(list(answers), delivery_id)
    other = await asyncio.gather(
        *(_open(api, marketplace, {**body, **change}) for change, _ in OTHER_ORDERS)
    )
    _assert_already_open(list(other), delivery_id, [field for _, field in OTHER_ORDERS])
    assert db.deliveries.find_one({"_id": delivery_id}) is None, "applied while stopped"

    await resume_workflow()
    await _applied(api, f"open:{delivery_id}", marketplace)
    answers = await asyncio.gather(
        *(_open(api, marketplace, v, k) for v, k in zip(variants, keys, strict=True))
    )
    _assert_opened(list(answers), delivery_id)
    other = await asyncio.gather(
        *(_open(api, marketplace, {**body, **change}) for change, _ in OTHER_ORDERS)
    )
    _assert_already_open(list(other), delivery_id, [field for _, field in OTHER_ORDERS])

    # One delivery, opened once, by the first order: every copy of its open was the same command.
    assert db.deliveries.count_documents({"order_id": body["order_id"]}) == 1
    delivery = await api.delivery(delivery_id, parties["customer"])
    assert [h["command"] for h in delivery["history"]] == ["open_delivery"]
    assert delivery["refusals"] == []
    assert delivery["product_id"] == body["product_id"]
    assert delivery["warranty_period_seconds"] == 30 * 24 * 3600
    assert db.commands.count_documents({"delivery_id": delivery_id}) == 1


async def test_different_opens_of_one_order_at_once_open_it_once_with_the_first(
    api: Api, parties, db
):
    marketplace = parties["marketplace"]
    body = _order(parties)
    delivery_id = delivery_id_for(body["order_id"])
    bodies = [body, body, *({**body, **change} for change, _ in OTHER_ORDERS[:4])]
    answers = await asyncio.gather(*(_open(api, marketplace, b, uuid.uuid4().hex) for b in bodies))
    opened = [b for b, (status, _, _) in zip(bodies, answers, strict=True) if status == 202]
    # Whichever came first won; the others were the same order as it, or refused.
    assert opened and all(b == opened[0] for b in opened), answers
    for b, (status, answer, _) in zip(bodies, answers, strict=True):
        if b == opened[0]:
            assert status == 202 and answer["delivery_id"] == delivery_id
        else:
            assert status == 409 and answer["error"] == "order_already_open", answer
            assert answer["delivery_id"] == delivery_id
    await _applied(api, f"open:{delivery_id}", marketplace)
    [document] = list(db.deliveries.find({"order_id": body["order_id"]}))
    assert {k: document[k] for k in ("order_spec", "product_id", "isv_id", "customer_id")} == {
        k: opened[0][k] for k in ("order_spec", "product_id", "isv_id", "customer_id")
    }


async def test_a_double_check_open_without_warranty_is_refused_at_once_and_may_be_corrected(
    api: Api, parties
):
    marketplace = parties["marketplace"]
    body = _order(parties)
    del body["warranty_period"]
    status, answer, _ = await _open(api, marketplace, body)
    assert status == 422 and answer["error"] == "invalid_input", answer
    assert [f["field"] for f in answer["fields"]] == ["warranty_period"]
    # Nothing was accepted, so the corrected order is a first open, not a reused key.
    status, answer, headers = await _open(api, marketplace, {**body, "warranty_period": "P30D"})
    assert status == 202, answer
    await _applied(api, answer["command_id"], marketplace)


async def test_the_warranty_limit_is_the_domains(api: Api, parties):
    marketplace = parties["marketplace"]
    status, answer, _ = await _open(api, marketplace, _order(parties, warranty_period="P36501D"))
    assert status == 422 and [f["field"] for f in answer["fields"]] == ["warranty_period"]
    assert "36500" in answer["message"], answer
    status, answer, _ = await _open(api, marketplace, _order(parties, warranty_period="P36500D"))
    assert status == 202, answer


async def test_a_pending_delivery_shows_its_status_and_refuses_commands(
    api: Api, parties, db, resume_workflow
):
    marketplace, customer, isv, admin = (
        parties[r] for r in ("marketplace", "customer", "isv", "admin")
    )
    body = _order(parties)
    status, opened, _ = await _open(api, marketplace, body)
    assert status == 202
    delivery_id, command_id = opened["delivery_id"], opened["command_id"]
    path = f"/v1/deliveries/{delivery_id}"
    pending = {
        "delivery_id": delivery_id,
        "order_id": body["order_id"],
        "state": None,
        "command_id": command_id,
        "status": "accepted",
    }

    # Whoever will see the delivery (its opener, an admin, its parties, another marketplace)
    # sees it is pending and may follow the Location to the open's status.
    for party in [marketplace, admin, customer, isv, api.party("marketplace")]:
        status, answer, headers = await _call(api, "GET", path, party)
        assert (status, answer) == (202, pending), (party.role, answer)
        assert headers["Retry-After"] == "1"
        assert headers["Location"] == f"/v1/commands/{command_id}"
        status, outcome, _ = await _call(api, "GET", headers["Location"], party)
        assert status == 200 and outcome["status"] == "accepted", (party.role, outcome)
    # Not to someone else's customer or ISV: the same 404 as a delivery that does not exist.
    for stranger in (api.party("customer"), api.party("isv")):
        status, answer, _ = await _call(api, "GET", path, stranger)
        assert status == 404 and answer["error"] == "not_found", answer
        status, answer, _ = await _call(api, "GET", f"/v1/commands/{command_id}", stranger)
        assert status == 404 and answer["error"] == "not_found", answer
        status, answer, _ = await _call(api, "POST", path + "/commands", stranger, json=DEMAND)
        assert status == 404 and answer["error"] == "not_found", answer

    # A command to it is refused, not accepted to be rejected later: nothing is published.
    for party, command in [(customer, DEMAND), (admin, {"type": "terminate", "reason": "x"})]:
        status, answer, headers = await _call(api, "POST", path + "/commands", party, json=command)
        assert status == 409 and answer["error"] == "delivery_pending", answer
        assert answer["delivery_id"] == delivery_id and answer["command_id"] == command_id
        assert headers["Retry-After"] == "1"
    assert db.commands.count_documents({"delivery_id": delivery_id}) == 1

    await resume_workflow()
    await _applied(api, command_id, marketplace)
    status, answer, _ = await _call(api, "GET", path, customer)
    assert status == 200 and answer["state"] == "awaiting_demand", answer
    status, answer, headers = await _call(api, "POST", path + "/commands", customer, json=DEMAND)
    assert status == 202 and headers["Location"] == f"/v1/commands/{answer['command_id']}"
    await _applied(api, answer["command_id"], customer)


async def test_every_accepted_command_points_to_its_status(api: Api, parties):
    marketplace, customer = parties["marketplace"], parties["customer"]
    body = _order(parties, process="basic", warranty_period=None)
    status, opened, headers = await _open(api, marketplace, body)
    assert status == 202 and headers["Location"] == f"/v1/commands/{opened['command_id']}"
    await _applied(api, opened["command_id"], marketplace)
    # Its Location is where the outcome is read.
    status, outcome, _ = await _call(api, "GET", headers["Location"], marketplace)
    assert status == 200 and outcome["status"] == "applied"
    status, again, headers = await _open(api, marketplace, body, key="any")
    assert status == 202 and again == opened
    assert headers["Location"] == f"/v1/commands/{opened['command_id']}"
    # Another marketplace repeating the order is given the same Location, and may follow it,
    # as may every party who may see the delivery; a stranger may not.
    other = api.party("marketplace")
    status, again, headers = await _open(api, other, body)
    assert status == 202 and again == opened
    for party in (other, parties["customer"], parties["isv"], parties["admin"]):
        status, outcome, _ = await _call(api, "GET", headers["Location"], party)
        assert status == 200 and outcome["status"] == "applied", (party.role, outcome)
    status, outcome, _ = await _call(api, "GET", headers["Location"], api.party("customer"))
    assert status == 404, outcome

    path = f"/v1/deliveries/{opened['delivery_id']}/commands"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(2):
        status, answer, headers = await _call(api, "POST", path, customer, json=DEMAND, headers=key)
        assert status == 202 and headers["Location"] == f"/v1/commands/{answer['command_id']}"
        await _applied(api, answer["command_id"], customer)
        status, outcome, _ = await _call(api, "GET", headers["Location"], customer)
        assert status == 200 and outcome["type"] == "submit_demand"


def test_the_document_declares_location_on_every_202():
    document = openapi_document()
    accepting = [
        (path, method)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "202" in operation["responses"]
    ]
    assert ("/v1/deliveries", "post") in accepting
    assert ("/v1/deliveries/{delivery_id}/commands", "post") in accepting
    for path, method in accepting:
        headers = document["paths"][path][method]["responses"]["202"].get("headers", {})
        assert "Location" in headers, (path, method)
    pending = document["paths"]["/v1/deliveries/{delivery_id}"]["get"]["responses"]["202"]
    assert pending["content"]["application/json"]["schema"]["$ref"].endswith("PendingDelivery")


def _publish_on_the_bus(amqp_url: str, envelope: dict[str, Any]) -> None:
    """As a marketplace system would: the dramatiq message as plain JSON on ``dc.commands``."""
    publish_raw(amqp_url, COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, envelope)


async def _decided(api: Api, command_id: str, party: Party) -> bool:
    """A command from the bus has no record: it answers 404 until the workflow decides it."""
    status, _, _ = await _call(api, "GET", f"/v1/commands/{command_id}", party)
    return status == 200


async def test_a_command_from_the_bus_answers_once_decided_and_404_until_then(
    api: Api, parties, system: System
):
    marketplace, customer, isv, admin = (
        parties[r] for r in ("marketplace", "customer", "isv", "admin")
    )
    # Never published, never recorded: a plain 404 that says where bus commands show.
    for party in (customer, admin):
        status, answer, _ = await _call(api, "GET", f"/v1/commands/bus-{uuid.uuid4().hex}", party)
        assert status == 404 and answer["error"] == "not_found", answer
        assert "bus" in answer["message"]

    # An order opened on the bus: opening it again over HTTP names the bus's command.
    body = _order(parties)
    delivery_id = delivery_id_for(body["order_id"])
    open_id = f"bus-open-{uuid.uuid4().hex}"
    command = {"type": "open_delivery", **body}
    envelope = {
        "command_id": open_id,
        "delivery_id": delivery_id,
        "actor": {"id": marketplace.sub, "role": "marketplace"},
        "issued_at": "2026-11-25T10:00:00Z",
        "command": command,
    }
    await asyncio.to_thread(_publish_on_the_bus, system.amqp_url, envelope)
    await until(lambda: _decided(api, open_id, marketplace), "the open from the bus decided")
    await _applied(api, open_id, marketplace)
    status, answer, headers = await _open(api, marketplace, body)
    assert status == 202 and answer["command_id"] == open_id, answer
    assert headers["Location"] == f"/v1/commands/{open_id}"
    status, answer, _ = await _open(api, marketplace, {**body, "product_id": "prod-shop"})
    assert status == 409 and answer["delivery_id"] == delivery_id, answer

    # A delivery command from the bus, and one to a delivery that does not exist.
    demand_id, stray_id = f"bus-{uuid.uuid4().hex}", f"bus-{uuid.uuid4().hex}"
    for command_id, target in ((demand_id, delivery_id), (stray_id, uuid.uuid4().hex)):
        await asyncio.to_thread(
            _publish_on_the_bus,
            system.amqp_url,
            {**envelope, "command_id": command_id, "delivery_id": target, "command": DEMAND}
            | {"actor": {"id": customer.sub, "role": "customer"}},
        )

    for command_id in (demand_id, stray_id):
        await until(lambda c=command_id: _decided(api, c, customer), f"{command_id} decided")
    for party in (customer, admin):
        status, outcome, _ = await _call(api, "GET", f"/v1/commands/{demand_id}", party)
        assert status == 200 and outcome["status"] == "applied", outcome
        assert outcome["delivery_id"] == delivery_id and outcome["type"] == "submit_demand"
    status, outcome, _ = await _call(api, "GET", f"/v1/commands/{stray_id}", customer)
    assert status == 200 and outcome["status"] == "rejected", outcome
    assert outcome["reason"] == "unknown_delivery"
    # Only its sender and an admin read it.
    status, answer, _ = await _call(api, "GET", f"/v1/commands/{demand_id}", isv)
    assert status == 404 and answer["error"] == "not_found"
