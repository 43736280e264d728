"""The pure parts of webhook delivery: Standard Webhooks headers, and when to try again.

Signatures come from the ``standardwebhooks`` library (the spec's reference implementation:
HMAC-SHA256 of ``<webhook-id>.<webhook-timestamp>.<body>`` keyed with the base64-decoded
secret after ``whsec_``, sent as ``v1,<base64>``). One signature per secret in force,
space-separated: the endpoint's secret and, until ``previous_secret_until``, the one it
replaced, so a receiver switching secrets loses nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook

from shared.contracts.webhooks import WebhookEndpoint

#: The longest wait between two attempts, whatever the backoff says.
LONGEST_WAIT = timedelta(hours=1)


def secrets_in_force(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a delivery made at ``now``: the endpoint's, then the previous one
    while it is still honoured."""
    secrets = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and now < until:
        secrets.append(endpoint.previous_secret)
    return secrets


def signed_headers(event_id: str, body: str, secrets: list[str], now: datetime) -> dict[str, str]:
    """The headers of one attempt: ``webhook-id`` (the event id), ``webhook-timestamp`` (Unix
    seconds of ``now``), ``webhook-signature`` (one ``v1,<base64>`` per secret) and the
    content type. Raises ValueError for a secret that is not base64."""
    seconds = int(now.timestamp())
    at = datetime.fromtimestamp(seconds, UTC)
    try:
        signatures = [Webhook(secret).sign(event_id, at, body) for secret in secrets]
    except Exception as error:  # binascii.Error, or the library's empty-secret error
        raise ValueError(f"unusable webhook secret: {error}") from error
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": " ".join(signatures),
    }


def retry_wait(attempts: int, base: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: ``base``, doubling with each attempt,
    at most :data:`LONGEST_WAIT`."""
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    # 2**20 times any base of at least a second is past the hour: no need to go further.
    return min(base * 2 ** min(attempts - 1, 20), LONGEST_WAIT)


def next_attempt(
    created_at: datetime,
    attempts: int,
    now: datetime,
    *,
    base: timedelta,
    retry_for: timedelta,
) -> datetime | None:
    """When to try again a delivery made at ``created_at`` whose ``attempts``-th attempt just
    failed at ``now``, or None to give up: once ``retry_for`` has passed since it was made.
    The last try is at that moment, however long the backoff has grown."""
    give_up_at = created_at + retry_for
    if now >= give_up_at:
        return None
    return min(now + retry_wait(attempts, base), give_up_at)
