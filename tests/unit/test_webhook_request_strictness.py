"""The webhook endpoints API's request bodies are strict (``webhook_models``): a boolean is
``true`` or ``false`` and a string a string; anything pydantic's lax mode would convert is a
422 ``invalid_input`` naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.gateway.errors import validation_error
from services.gateway.webhook_models import NewWebhook, WebhookChange

VALID = {"url": "https://hooks.example.com/dc", "event_types": ["delivery_completed"]}


def _refused_fields(model: type, body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    refusal = validation_error(caught.value)
    assert (refusal.status, refusal.code) == (422, "invalid_input")
    return [f["field"] for f in refusal.extra["fields"]]


@pytest.mark.parametrize(
    "loose",
    ["false", "true", 0, 1, "yes", "no", "on", "off", "1", "0", 1.0, 0.0, "", None, [], {}],
)
def test_enabled_takes_only_true_or_false(loose: Any):
    assert _refused_fields(WebhookChange, {"enabled": loose}) == ["enabled"]


@pytest.mark.parametrize("enabled", [True, False])
def test_enabled_true_or_false_is_taken(enabled: bool):
    assert WebhookChange.model_validate({"enabled": enabled}).enabled is enabled


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": 5}, "url"),
        ({"url": b"https://hooks.example.com/dc"}, "url"),
        ({"event_types": [1]}, "event_types.0"),
        ({"event_types": ["delivery_completed", 2.5]}, "event_types.1"),
        ({"event_types": ["delivery_completed", True]}, "event_types.1"),
        ({"event_types": ("delivery_completed",)}, "event_types"),
        ({"event_types": {"delivery_completed"}}, "event_types"),
        ({"event_types": "delivery_completed"}, "event_types"),
        ({"description": 5}, "description"),
        ({"description": False}, "description"),
        ({"description": b"payments"}, "description"),
    ],
)
def test_a_new_endpoint_takes_strings_only(change: dict[str, Any], field: str):
    assert _refused_fields(NewWebhook, {**VALID, **change}) == [field]


def test_a_strict_new_endpoint_is_taken():
    wanted = NewWebhook.model_validate({**VALID, "description": "payments"})
    assert (wanted.url, wanted.event_types, wanted.description) == (
        VALID["url"],
        VALID["event_types"],
        "payments",
    )
