"""The gateway's answers are built from its pydantic models (one model per answer) and keep the
JSON they always had; every route declares its contract, from which the OpenAPI document is
made."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from services.gateway.app import ROUTE_TABLES
from services.gateway.contracts import Reply, UndocumentedRoute, documented
from services.gateway.errors import HttpError, error_response
from services.gateway.models import (
    Attachment,
    CommandOutcome,
    DeliverySummary,
    DeliveryView,
    PendingDelivery,
    answer_body,
)
from services.gateway.openapi import document_of, routes_of

OPENED = datetime(2026, 11, 30, 11, 53, 42, 123000, tzinfo=UTC)
FILE = {
    "_id": "f1",
    "delivery_id": "d1",
    "filename": "spec.pdf",
    "size": 10,
    "detected_type": "pdf",
    "content_type": "application/pdf",
    "sha256": "ab" * 32,
    "uploaded_by": {"id": "c1", "role": "customer"},
    "uploaded_at": OPENED,
}
DELIVERY = {
    "_id": "d1",
    "order_id": "o1",
    "order_spec": "A website",
    "product_id": "p1",
    "process": "contract",
    "state": "awaiting_contract",
    "version": 3,
    "customer_id": "c1",
    "isv_id": "i1",
    "customer_email": "c@example.com",
    "isv_email": "i@example.com",
    "attachments": ["f1", "gone"],
    "contract": None,
    "deadlines": [
        {"kind": "confirmation_window", "due_at": OPENED + timedelta(days=2), "status": "active"},
        {"kind": "warranty", "due_at": None, "status": "paused", "remaining_seconds": 30.5},
    ],
    "dispute": {
        "status": "open",
        "opened_by": {"id": "c1", "role": "customer"},
        "reason": "late",
        "opened_at": OPENED,
    },
    "history": [
        {
            "command_id": "open:d1",
            "command": "open_delivery",
            "actor": {"id": "m1", "role": "marketplace"},
            "at": OPENED,
            "from_state": None,
            "to_state": "awaiting_demand",
        }
    ],
    "opened_at": OPENED,
    "updated_at": OPENED,
    "revision": 7,
    "outbox": [],
    "has_outbox": False,
}


def _wire(body: dict) -> dict:
    """What the client reads: the body through ``json.dumps`` as aiohttp sends it."""
    return json.loads(json.dumps(body))


def test_a_delivery_shows_every_stored_field_but_bookkeeping_with_isoformat_times():
    body = _wire(answer_body(DeliveryView.of(DELIVERY, {"f1": FILE})))
    deadlines = [
        {
            "kind": "confirmation_window",
            "due_at": "2026-12-02T11:53:42.123000+00:00",
            "status": "active",
            "remaining_seconds": None,
        },
        {"kind": "warranty", "due_at": None, "status": "paused", "remaining_seconds": 30.5},
    ]
    assert body == {
        "delivery_id": "d1",
        "order_id": "o1",
        "order_spec": "A website",
        "product_id": "p1",
        "process": "contract",
        "state": "awaiting_contract",
        "version": 3,
        "customer_id": "c1",
        "isv_id": "i1",
        "customer_email": "c@example.com",
        "isv_email": "i@example.com",
        "attachments": [
            {
                "attachment_id": "f1",
                "filename": "spec.pdf",
                "size": 10,
                "content_type": "application/pdf",
                "sha256": "ab" * 32,
                "uploaded_at": "2026-11-30T11:53:42.123000+00:00",
            },
            {"attachment_id": "gone"},
        ],
        "contract": None,
        "deadlines": deadlines,
        "dispute": {
            "status": "open",
            "opened_by": {"id": "c1", "role": "customer"},
            "reason": "late",
            "opened_at": "2026-11-30T11:53:42.123000+00:00",
        },
        "history": [
            {
                "command_id": "open:d1",
                "command": "open_delivery",
                "actor": {"id": "m1", "role": "marketplace"},
                "at": "2026-11-30T11:53:42.123000+00:00",
                "from_state": None,
                "to_state": "awaiting_demand",
            }
        ],
        "opened_at": "2026-11-30T11:53:42.123000+00:00",
        "updated_at": "2026-11-30T11:53:42.123000+00:00",
    }


def test_fields_a_delivery_does_not_store_are_not_shown():
    body = answer_body(DeliveryView.of(DELIVERY, {}))
    assert "contact" not in body and "demands" not in body
    stored = answer_body(DeliveryView.of({**DELIVERY, "contact": None, "demands": "x"}, {}))
    assert stored["contact"] is None and stored["demands"] == "x"


def test_a_summary_and_an_attachment_keep_their_shapes():
    summary = _wire(answer_body(DeliverySummary.of(DELIVERY)))
    assert list(summary) == [
        "delivery_id",
        "order_id",
        "product_id",
        "process",
        "state",
        "version",
        "customer_id",
        "isv_id",
        "deadlines",
        "dispute",
        "updated_at",
    ]
    assert summary["updated_at"] == "2026-11-30T11:53:42.123000+00:00"
    assert answer_body(DeliverySummary.of({**DELIVERY, "dispute": None}))["dispute"] is None
    attachment = answer_body(Attachment.of(FILE))
    assert attachment["uploaded_at"] == "2026-11-30T11:53:42.123000+00:00"
    assert "uploaded_by" not in attachment and "detected_type" not in attachment


def test_a_pending_delivery_and_an_outcome_give_every_field():
    assert answer_body(PendingDelivery.of("d1", None, "open:d1")) == {
        "delivery_id": "d1",
        "order_id": None,
        "state": None,
        "command_id": "open:d1",
        "status": "accepted",
    }
    known = {"delivery_id": "d1", "type": "confirm"}
    assert answer_body(CommandOutcome.of("c", known, None)) == {
        "command_id": "c",
        "delivery_id": "d1",
        "type": "confirm",
        "status": "accepted",
        "reason": None,
        "message": None,
    }


def test_an_error_is_its_code_message_and_what_the_refusal_adds():
    response = error_response(409, "delivery_pending", "later", delivery_id="d1", retry_after=1)
    assert response.headers["Retry-After"] == "1"
    assert json.loads(response.text) == {
        "error": "delivery_pending",
        "message": "later",
        "delivery_id": "d1",
        "retry_after": 1,
    }
    fields = [{"field": "type", "message": "unknown"}]
    bad = HttpError(422, "invalid_input", "type: unknown", field="type", fields=fields)
    assert json.loads(bad.response().text) == {
        "error": "invalid_input",
        "message": "type: unknown",
        "field": "type",
        "fields": fields,
    }
    assert json.loads(error_response(404, "not_found", "no").text) == {
        "error": "not_found",
        "message": "no",
    }


def test_a_route_without_a_contract_stops_the_document():
    table = web.RouteTableDef()

    @table.get("/documented")
    @documented("yes", responses={200: Reply("fine")})
    async def declared(request: web.Request) -> web.Response:
        raise NotImplementedError

    @table.get("/forgotten")
    async def forgotten(request: web.Request) -> web.Response:
        raise NotImplementedError

    with pytest.raises(UndocumentedRoute, match="forgotten"):
        document_of([table])


def test_every_route_declares_exactly_its_path_parameters():
    for path, method, contract in routes_of(ROUTE_TABLES):
        declared = {p["name"] for p in contract.parameters if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        assert contract.responses, (method, path)
