"""The webhook endpoints API's pure parts: the request bodies' rules, the secret's shape, the
host check (resolution faked where it would leave the machine) and the answers' shapes."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.gateway import webhook_hosts
from services.gateway.errors import HttpError, validation_error
from services.gateway.models import answer_body
from services.gateway.webhook_hosts import check_address, host_addresses
from services.gateway.webhook_models import (
    MAX_DESCRIPTION,
    DeliveryLogEntry,
    NewWebhook,
    WebhookView,
    unknown_event_types,
)
from services.gateway.webhooks import new_secret

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _refusal(body: dict) -> HttpError:
    with pytest.raises(ValidationError) as caught:
        NewWebhook.model_validate(body)
    return validation_error(caught.value)


def test_a_secret_is_whsec_and_24_random_bytes_in_base64():
    first, second = new_secret(), new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{32}", first)
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24
    assert first != second


def test_event_types_count_once_in_their_order():
    wanted = NewWebhook.model_validate(
        {
            "url": "https://hooks.example.com/dc",
            "event_types": ["delivery_completed", "delivery_opened", "delivery_completed"],
        }
    )
    assert wanted.event_types == ["delivery_completed", "delivery_opened"]
    assert wanted.description is None


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "ftp://example.com/x", "event_types": ["delivery_opened"]}, "url", "http"),
        ({"url": "https://u:p@example.com/", "event_types": ["delivery_opened"]}, "url", "user"),
        ({"url": "/relative", "event_types": ["delivery_opened"]}, "url", "http"),
        ({"url": "https://example.com/", "event_types": []}, "event_types", "at least one"),
        (
            {"url": "https://example.com/", "event_types": ["delivery_opened", "no_such", "no"]},
            "event_types",
            "unknown event type no_such, no;",
        ),
        (
            {"url": "https://example.com/", "event_types": ["command.rejected"]},
            "event_types",
            "unknown event type",
        ),
        (
            {
                "url": "https://example.com/",
                "event_types": ["delivery_opened"],
                "description": "x" * (MAX_DESCRIPTION + 1),
            },
            "description",
            "500",
        ),
        (
            {"url": "https://example.com/", "event_types": ["delivery_opened"], "secret": "s"},
            "secret",
            "not permitted",
        ),
    ],
)
def test_a_body_refused_names_its_field(body: dict, field: str, words: str):
    refusal = _refusal(body)
    assert refusal.status == 422 and refusal.code == "invalid_input"
    [fault] = refusal.extra["fields"]
    assert fault["field"] == field
    assert words in fault["message"]
    assert not fault["message"].startswith("Value error")


def test_unknown_event_types_are_named_once():
    assert unknown_event_types(["x", "delivery_opened", "x", "y"]) == ["x", "y"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [("10.0.0.1", ["10.0.0.1"]), ("::1", ["::1"]), ("169.254.169.254", ["169.254.169.254"])],
)
def test_an_ip_literal_is_its_own_address(host: str, expected: list[str]):
    assert asyncio.run(host_addresses(host, None)) == expected


@pytest.mark.parametrize(
    ("url", "allowed", "words"),
    [
        ("http://10.0.0.1/", frozenset(), "private address (10.0.0.1)"),
        ("http://169.254.169.254/latest", frozenset({"loopback"}), "link-local"),
        ("http://[::1]:8080/", frozenset(), "loopback address (::1)"),
        ("http://127.0.0.1/", frozenset({"private"}), "loopback"),
    ],
)
def test_a_refused_address_is_a_422_about_the_url(url: str, allowed: frozenset, words: str):
    with pytest.raises(HttpError) as caught:
        asyncio.run(check_address(url, allowed))
    assert caught.value.status == 422 and caught.value.code == "invalid_input"
    [fault] = caught.value.extra["fields"]
    assert fault["field"] == "url" and words in fault["message"]


def test_an_allowed_kind_passes():
    asyncio.run(check_address("http://127.0.0.1:9/hook", frozenset({"loopback"})))


def _resolving_to(monkeypatch, result):
    async def getaddrinfo(self, host, port, **kwargs):
        if isinstance(result, BaseException):
            raise result
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in result]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)


def test_a_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    _resolving_to(monkeypatch, ["93.184.215.14", "192.168.1.5", "93.184.215.14"])
    with pytest.raises(HttpError) as caught:
        asyncio.run(check_address("https://hooks.example.com/", frozenset()))
    assert "hooks.example.com resolves to a private address (192.168.1.5)" in str(
        caught.value.message
    )


def test_a_name_with_public_addresses_only_passes(monkeypatch):
    _resolving_to(monkeypatch, ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    asyncio.run(check_address("https://hooks.example.com/", frozenset()))


def test_a_name_that_does_not_resolve_is_refused_clearly(monkeypatch):
    _resolving_to(monkeypatch, socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    with pytest.raises(HttpError) as caught:
        asyncio.run(check_address("https://nowhere.invalid/", frozenset()))
    assert caught.value.extra["fields"] == [
        {"field": "url", "message": "its host nowhere.invalid does not resolve to an address"}
    ]


def test_a_resolution_that_hangs_is_refused(monkeypatch):
    async def getaddrinfo(self, host, port, **kwargs):
        await asyncio.sleep(10)

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(webhook_hosts, "RESOLVE_TIMEOUT", 0.05)
    with pytest.raises(HttpError) as caught:
        asyncio.run(check_address("https://slow.example.com/", frozenset()))
    assert "did not resolve within" in caught.value.message


def test_an_endpoint_is_shown_without_its_secrets():
    stored = {
        "_id": "w1",
        "webhook_id": "w1",
        "url": "https://hooks.example.com/",
        "event_types": ["delivery_completed"],
        "description": None,
        "enabled": True,
        "created_at": NOW,
    }
    assert answer_body(WebhookView.of(stored)) == {
        "webhook_id": "w1",
        "url": "https://hooks.example.com/",
        "event_types": ["delivery_completed"],
        "description": None,
        "enabled": True,
        "created_at": NOW.isoformat(),
        "disabled_at": None,
        "disabled_reason": None,
    }


def test_a_delivery_shows_its_attempts_with_isoformat_times():
    stored = {
        "_id": "w1:e1",
        "webhook_id": "w1",
        "event_id": "e1",
        "event_type": "delivery_completed",
        "status": "pending",
        "created_at": NOW,
        "next_attempt_at": NOW + timedelta(seconds=10),
        "attempts": [{"at": NOW, "status": 500, "latency_ms": 12, "error": "HTTP 500"}],
    }
    assert answer_body(DeliveryLogEntry.of(stored)) == {
        "event_id": "e1",
        "event_type": "delivery_completed",
        "status": "pending",
        "created_at": NOW.isoformat(),
        "next_attempt_at": (NOW + timedelta(seconds=10)).isoformat(),
        "attempts": [{"at": NOW.isoformat(), "status": 500, "latency_ms": 12, "error": "HTTP 500"}],
    }
