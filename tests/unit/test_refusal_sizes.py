"""A 422 stays small whatever the body held: each problem's message and each part of a field's
path is cut short, and after ``FIELDS_LISTED`` problems the rest are counted, not listed
(``services.gateway.errors.validation_error``, ``shared.validation_errors``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.gateway.errors import FIELDS_LISTED, validation_error
from services.gateway.webhook_models import NewWebhook
from shared.domain.commands import OpenDelivery
from shared.validation_errors import MESSAGE_LIMIT, PATH_PART_LIMIT

HUGE = 100_000
OPENING = {
    "order_id": "order-sizes",
    "order_spec": "A website",
    "product_id": "prod-1",
    "isv_id": "isv-1",
    "customer_id": "cust-1",
    "customer_email": "ada@example.com",
    "isv_email": "sales@isv.example",
    "process": "basic",
}
WEBHOOK = {"url": "https://example.com/hook", "event_types": ["delivery_opened"]}
#: Private-use characters: each distinct one was named in an address's refusal.
UNSAFE = "".join(chr(0xE000 + n) for n in range(6_000))


def _answer(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    refusal = validation_error(caught.value)
    assert refusal.status == 422 and refusal.code == "invalid_input"
    return {"message": refusal.message, "fields": refusal.extra["fields"]}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (OpenDelivery, {**OPENING, "x" * HUGE: 1}),
        (OpenDelivery, {**OPENING, "order_id": "x" * HUGE}),
        (OpenDelivery, {**OPENING, "customer_locale": "x" * HUGE}),
        (OpenDelivery, {**OPENING, "warranty_period": "P" + "1" * HUGE + "D"}),
        (OpenDelivery, {**OPENING, "customer_email": UNSAFE + "@example.com"}),
        (OpenDelivery, {**OPENING, "process": "x" * HUGE}),
        (NewWebhook, {**WEBHOOK, "event_types": ["x" * HUGE]}),
        (NewWebhook, {**WEBHOOK, "event_types": [f"type-{n}" for n in range(20_000)]}),
        (NewWebhook, {**WEBHOOK, "url": "https://" + "x" * HUGE + ".example/"}),
    ],
    ids=[
        "an unknown key",
        "a long id",
        "a long locale",
        "a long duration",
        "an address of unsafe characters",
        "an unknown process",
        "an unknown event type",
        "many unknown event types",
        "a long URL",
    ],
)
def test_one_huge_value_gets_a_short_answer(model: type[BaseModel], body: dict) -> None:
    answer = _answer(model, body)
    for field in answer["fields"]:
        assert len(field["message"]) <= MESSAGE_LIMIT + 1
        assert all(len(part) <= PATH_PART_LIMIT + 1 for part in field["field"].split("."))
    assert len(json.dumps(answer, ensure_ascii=False)) < 2_000, answer["message"][:300]


def test_many_problems_are_counted_after_the_first_ones() -> None:
    body = {**OPENING, **{f"unknown-{n}": n for n in range(10_000)}}
    answer = _answer(OpenDelivery, body)
    assert len(answer["fields"]) == FIELDS_LISTED
    assert answer["message"].endswith(f"; and {10_000 - FIELDS_LISTED} more problems")
    assert len(json.dumps(answer)) < 5_000


def test_a_short_problem_is_shown_whole() -> None:
    answer = _answer(OpenDelivery, {**OPENING, "customer_locale": "zh_CN"})
    assert answer["fields"] == [
        {"field": "customer_locale", "message": "write the locale 'zh_CN' as 'zh-CN'"}
    ]
    assert answer["message"] == "customer_locale: write the locale 'zh_CN' as 'zh-CN'"
