"""Email safety: nothing that may end up in an email header can carry CR or LF."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.client import Api

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@example.com"}
INJECTION = "\r\nBcc: everyone@example.net"


@pytest.mark.parametrize("field", ["name", "phone", "email"])
async def test_a_contact_field_with_cr_or_lf_answers_422(api: Api, parties, db, field: str):
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    for injection in (INJECTION, "\nBcc: x@example.net", "\rBcc: x@example.net"):
        contact = {**CONTACT, field: CONTACT[field] + injection}
        status, answer = await api.send(
            opened["delivery_id"],
            parties["customer"],
            {"type": "submit_demand", "contact": contact, "demands": "x"},
        )
        assert status == 422, (field, injection, answer)
        assert {f["field"] for f in answer["fields"]} == {f"contact.{field}"}
    assert db.commands.count_documents({"delivery_id": opened["delivery_id"]}) == 1


@pytest.mark.parametrize("field", ["customer_email", "isv_email"])
async def test_a_partys_email_with_cr_or_lf_answers_422(api: Api, parties, field: str):
    body = {
        "order_id": f"order-{uuid.uuid4().hex[:12]}",
        "order_spec": "Company website",
        "product_id": "prod-1",
        "isv_id": parties["isv"].sub,
        "customer_id": parties["customer"].sub,
        "customer_email": "c@example.com",
        "isv_email": "i@example.com",
        "process": "basic",
    }
    body[field] += INJECTION
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and {f["field"] for f in answer["fields"]} == {field}
