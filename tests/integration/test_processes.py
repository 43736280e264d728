"""Every process, termination and disputes end to end through HTTP, the broker and the database."""

from __future__ import annotations

import asyncio
from datetime import datetime

import aiohttp

from tests.integration.client import Api, Party
from tests.unit.ooxml_builder import docx as docx_package

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "A shop with a cart"}


async def _applied(api: Api, delivery_id: str, party: Party, body: dict) -> None:
    outcome = await api.command(delivery_id, party, body)
    assert outcome["status"] == "applied", outcome


async def _upload(
    api: Api, delivery_id: str, party: Party, name: str, data: bytes
) -> tuple[int, dict]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await api.request("POST", f"/v1/deliveries/{delivery_id}/attachments", party, data=form)


async def test_double_check_goes_through_warranty_to_completed(api: Api, parties, mail):
    customer, isv = parties["customer"], parties["isv"]
    opened = await api.open_delivery(
        parties["marketplace"], customer, isv, process="double_check", warranty_period="P30D"
    )
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    await _applied(api, delivery_id, isv, {"type": "finish"})
    await _applied(api, delivery_id, customer, {"type": "confirm"})
    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "in_warranty"
    [warranty] = delivery["deadlines"]
    assert warranty["kind"] == "warranty"
    due = datetime.fromisoformat(warranty["due_at"])
    assert 29 <= (due - datetime.fromisoformat(delivery["updated_at"])).days <= 30

    await _applied(
        api,
        delivery_id,
        customer,
        {"type": "request_warranty_service", "description": "Cart broken"},
    )
    assert (await api.delivery(delivery_id, customer))["state"] == "in_warranty"
    await mail.wait_for_async(
        lambda m: (
            m["X-Event-Type"] == "warranty_service_requested" and m["To"] == opened["isv_email"]
        )
    )
    await _applied(api, delivery_id, customer, {"type": "confirm_warranty"})
    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "completed"
    assert delivery["deadlines"] == []
    assert delivery["warranty_requests"][0]["description"] == "Cart broken"


async def test_the_warranty_period_ends_by_itself(api: Api, parties):
    customer, isv = parties["customer"], parties["isv"]
    opened = await api.open_delivery(
        parties["marketplace"], customer, isv, process="double_check", warranty_period="PT2S"
    )
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    await _applied(api, delivery_id, isv, {"type": "finish"})
    await _applied(api, delivery_id, customer, {"type": "confirm"})
    delivery = await api.wait_for_state(delivery_id, customer, "completed")
    assert delivery["history"][-1]["command"] == "expire_deadline"
    assert delivery["history"][-1]["from_state"] == "in_warranty"


async def test_contract_process_checks_the_file_and_runs_to_completed(api: Api, parties):
    customer, isv = parties["customer"], parties["isv"]
    opened = await api.open_delivery(parties["marketplace"], customer, isv, process="contract")
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    assert (await api.delivery(delivery_id, isv))["state"] == "awaiting_contract"

    status, text_file = await _upload(api, delivery_id, isv, "contract.pdf", b"just some text")
    assert status == 201, text_file
    refused = await api.command(
        delivery_id, isv, {"type": "upload_contract", "attachment": text_file["attachment_id"]}
    )
    assert refused["status"] == "rejected"
    assert refused["reason"] == "invalid_contract_file"
    assert "DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z" in refused["message"]

    docx = docx_package()
    status, contract = await _upload(api, delivery_id, isv, "contract.docx", docx)
    assert status == 201, contract
    assert contract["size"] > 0 and len(contract["sha256"]) == 64
    await _applied(
        api, delivery_id, isv, {"type": "upload_contract", "attachment": contract["attachment_id"]}
    )
    await _applied(api, delivery_id, isv, {"type": "finish"})
    await _applied(api, delivery_id, customer, {"type": "confirm"})

    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "completed"
    assert delivery["contract"]["attachment_id"] == contract["attachment_id"]
    assert delivery["contract"]["filename"] == "contract.docx"
    status, body = await api.request(
        "GET", f"/v1/attachments/{contract['attachment_id']}", customer
    )
    assert status == 200 and body == docx


async def test_stepwise_confirms_each_stage_and_sends_changes_back(api: Api, parties):
    customer, isv = parties["customer"], parties["isv"]
    opened = await api.open_delivery(parties["marketplace"], customer, isv, process="stepwise")
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    steps = [
        (isv, {"type": "finish", "note": "functional design v1"}, "confirm_functional_design"),
        (customer, {"type": "request_changes", "reason": "add a blog"}, "functional_design"),
        (isv, {"type": "finish", "note": "functional design v2"}, "confirm_functional_design"),
        (customer, {"type": "confirm"}, "ued"),
        (isv, {"type": "finish", "note": "UED"}, "confirm_ued"),
        (customer, {"type": "confirm"}, "development_testing"),
        (isv, {"type": "finish", "note": "built and tested"}, "inspection_acceptance"),
        (customer, {"type": "confirm"}, "awaiting_confirmation"),
        (customer, {"type": "request_changes", "reason": "typo on home"}, "development_testing"),
        (isv, {"type": "finish", "note": "typo fixed"}, "inspection_acceptance"),
        (customer, {"type": "confirm"}, "awaiting_confirmation"),
        (customer, {"type": "confirm"}, "completed"),
    ]
    for party, body, state in steps:
        await _applied(api, delivery_id, party, body)
        assert (await api.delivery(delivery_id, customer))["state"] == state, body
    delivery = await api.delivery(delivery_id, customer)
    assert [s["stage"] for s in delivery["stages"]] == [
        "functional_design",
        "functional_design",
        "ued",
        "development_testing",
        "development_testing",
    ]
    assert delivery["stages"][0]["reviews"][0] == {
        **delivery["stages"][0]["reviews"][0],
        "outcome": "changes_requested",
        "reason": "add a blog",
    }
    assert [r["outcome"] for r in delivery["stages"][-1]["reviews"]] == ["confirmed", "confirmed"]
    assert delivery["version"] == 2 + len(steps)


async def test_admin_terminates_and_nobody_else_may(api: Api, parties):
    customer, isv, admin = parties["customer"], parties["isv"], parties["admin"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, isv))["delivery_id"]
    status, answer = await api.send(delivery_id, customer, {"type": "terminate", "reason": "bored"})
    assert status == 403, answer
    await _applied(api, delivery_id, admin, {"type": "terminate", "reason": "order refunded"})
    assert (await api.delivery(delivery_id, customer))["state"] == "terminated"
    refused = await api.command(delivery_id, customer, DEMAND)
    assert refused["reason"] == "terminal_state"


async def test_a_dispute_pauses_deadlines_until_the_admin_resolves_it(api: Api, parties, mail):
    customer, isv, admin = parties["customer"], parties["isv"], parties["admin"]
    opened = await api.open_delivery(parties["marketplace"], customer, isv)
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    await _applied(api, delivery_id, isv, {"type": "finish"})
    await _applied(
        api, delivery_id, isv, {"type": "open_dispute", "reason": "customer unreachable"}
    )

    delivery = await api.delivery(delivery_id, customer)
    assert delivery["dispute"]["status"] == "open"
    assert {d["status"] for d in delivery["deadlines"]} == {"paused"}
    window = next(d for d in delivery["deadlines"] if d["kind"] == "confirmation_window")
    assert 0 < window["remaining_seconds"] <= 8
    await mail.wait_for_async(
        lambda m: m["X-Delivery-Id"] == delivery_id and m["To"] == "admin@example.com"
    )
    refused = await api.command(delivery_id, customer, {"type": "confirm"})
    assert refused["reason"] == "dispute_open"

    # Paused deadlines do not fire, however long the dispute lasts.
    await _applied(api, delivery_id, admin, {"type": "resolve_dispute", "outcome": "continue"})
    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "awaiting_confirmation"
    assert {d["status"] for d in delivery["deadlines"]} == {"active"}
    assert delivery["dispute"]["outcome"] == "continue"
    await _applied(api, delivery_id, customer, {"type": "confirm"})
    assert (await api.delivery(delivery_id, customer))["state"] == "completed"


async def test_resolving_a_dispute_by_termination(api: Api, parties):
    customer, isv, admin = parties["customer"], parties["isv"], parties["admin"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, isv))["delivery_id"]
    await _applied(api, delivery_id, customer, {"type": "open_dispute", "reason": "wrong product"})
    await _applied(
        api,
        delivery_id,
        admin,
        {"type": "resolve_dispute", "outcome": "terminate", "note": "refund"},
    )
    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "terminated"
    assert delivery["dispute"]["status"] == "resolved"


async def test_concurrent_commands_on_one_delivery_are_all_kept(api: Api, parties):
    """Ten requests at once on one delivery: each is applied, none overwrites another."""
    customer, isv = parties["customer"], parties["isv"]
    opened = await api.open_delivery(
        parties["marketplace"], customer, isv, process="double_check", warranty_period="P30D"
    )
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, customer, DEMAND)
    await _applied(api, delivery_id, isv, {"type": "finish"})
    await _applied(api, delivery_id, customer, {"type": "confirm"})
    before = (await api.delivery(delivery_id, customer))["version"]
    bodies = [{"type": "request_warranty_service", "description": f"issue {n}"} for n in range(10)]
    outcomes = await asyncio.gather(*(api.command(delivery_id, customer, b) for b in bodies))
    assert {o["status"] for o in outcomes} == {"applied"}
    delivery = await api.delivery(delivery_id, customer)
    assert delivery["version"] == before + 10
    assert sorted(r["description"] for r in delivery["warranty_requests"]) == sorted(
        b["description"] for b in bodies
    )
