"""Webhook signatures follow Standard Webhooks, and the retry schedule backs off and ends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifier.signing import (
    LONGEST_WAIT,
    next_attempt,
    retry_wait,
    secrets_in_force,
    signed_headers,
)
from shared.contracts.webhooks import SECRET_BYTES, SECRET_PREFIX, WebhookEndpoint

BODY = '{"event_id":"e-1","event_type":"delivery_completed","version":4}'


def _secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _spec_signature(secret: str, msg_id: str, timestamp: str, body: str) -> str:
    """The spec's algorithm, written out: HMAC-SHA256 keyed with the base64-decoded secret
    after ``whsec_``, over ``id.timestamp.body``, as ``v1,<base64>``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _endpoint(**fields) -> WebhookEndpoint:
    return WebhookEndpoint(
        webhook_id="wh-1",
        url="https://example.com/hooks",
        event_types=["delivery_completed"],
        secret=fields.pop("secret", _secret()),
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        **fields,
    )


def test_the_signature_is_the_specs_and_the_library_verifies_it():
    secret, now = _secret(), datetime.now(UTC)
    headers = signed_headers("e-1", BODY, [secret], now)
    assert headers["webhook-id"] == "e-1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["content-type"] == "application/json"
    assert headers["webhook-signature"] == _spec_signature(
        secret, "e-1", headers["webhook-timestamp"], BODY
    )
    assert Webhook(secret).verify(BODY, headers) == {
        "event_id": "e-1",
        "event_type": "delivery_completed",
        "version": 4,
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("4", "5"), headers)


def test_a_rotated_secret_still_signs_until_its_end():
    old, new, now = _secret(), _secret(), datetime.now(UTC)
    rotated = _endpoint(
        secret=new, previous_secret=old, previous_secret_until=now + timedelta(hours=1)
    )
    assert secrets_in_force(rotated, now) == [new, old]
    assert secrets_in_force(rotated, now + timedelta(hours=2)) == [new]
    headers = signed_headers("e-2", BODY, secrets_in_force(rotated, now), now)
    first, second = headers["webhook-signature"].split(" ")
    stamp = headers["webhook-timestamp"]
    assert (first, second) == (
        _spec_signature(new, "e-2", stamp, BODY),
        _spec_signature(old, "e-2", stamp, BODY),
    )
    for secret in (old, new):  # a receiver on either secret accepts it
        Webhook(secret).verify(BODY, headers)
    plain = _endpoint()
    assert secrets_in_force(plain, now) == [plain.secret]


def test_a_secret_that_is_not_base64_is_refused():
    with pytest.raises(ValueError, match="secret"):
        signed_headers("e-1", BODY, ["whsec_%%%"], datetime.now(UTC))


def test_the_wait_doubles_from_the_base_up_to_an_hour():
    base = timedelta(seconds=5)
    waits = [retry_wait(n, base) for n in range(1, 14)]
    assert waits[:5] == [timedelta(seconds=s) for s in (5, 10, 20, 40, 80)]
    assert all(b == min(2 * a, LONGEST_WAIT) for a, b in zip(waits, waits[1:], strict=False))
    assert waits[-1] == LONGEST_WAIT == timedelta(hours=1)
    assert retry_wait(10_000, base) == LONGEST_WAIT  # no overflow however many
    with pytest.raises(ValueError):
        retry_wait(0, base)


def test_attempts_go_on_for_the_retry_span_and_the_last_is_at_its_end():
    created = datetime(2025, 1, 1, tzinfo=UTC)
    base, span = timedelta(seconds=5), timedelta(days=1)
    now, attempts, times = created, 0, []
    while True:
        attempts += 1
        then = next_attempt(created, attempts, now, base=base, retry_for=span)
        if then is None:
            break
        assert then > now
        times.append(then)
        now = then
    assert now == created + span  # the last try is exactly at the end of the span
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) == LONGEST_WAIT
    assert 25 < attempts < 40  # 5 s doubling to an hour, then hourly for a day


def test_a_failure_after_the_span_gives_up():
    created = datetime(2025, 1, 1, tzinfo=UTC)
    span = timedelta(seconds=4)
    retry = {"base": timedelta(seconds=1), "retry_for": span}
    assert next_attempt(created, 1, created, **retry) == created + timedelta(seconds=1)
    assert next_attempt(created, 3, created + timedelta(seconds=3), **retry) == created + span
    assert next_attempt(created, 4, created + span, **retry) is None
    assert next_attempt(created, 1, created + timedelta(days=2), **retry) is None
