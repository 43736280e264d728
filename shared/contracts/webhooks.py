"""Signed webhooks: the endpoints an admin registers, and the record of each event's delivery
to each endpoint. The gateway writes endpoints (``/v1/webhooks``); the notifier delivers
events to them with the Standard Webhooks conventions (https://www.standardwebhooks.com/):
headers ``webhook-id`` (the event id), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` with the
endpoint's secret). The body is the event's JSON as on ``dc.events``
(``shared.contracts.public_events``); it carries ``version``, by which a receiver orders one
delivery's events (retries can reorder them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.public_events import PUBLIC_EVENT_TYPES

#: Event types an endpoint may subscribe to: every delivery event of the public stream
#: (``command.rejected`` is for bus publishers, on ``dc.events`` only).
SUBSCRIBABLE_EVENT_TYPES = PUBLIC_EVENT_TYPES
#: A Standard Webhooks secret: ``whsec_`` and the base64 of 24 random bytes.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


class WebhookEndpoint(BaseModel):
    """A registered endpoint, as stored in ``webhook_endpoints`` (``_id`` = ``webhook_id``).

    ``secret`` signs every delivery; it is shown once, when made or rotated.
    ``previous_secret`` still signs for a day after a rotation (Standard Webhooks sends one
    signature per secret, space-separated), so a receiver can switch without losing events.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_id: str
    url: str
    event_types: list[str] = Field(description="the event types it receives")
    description: str | None = None
    secret: str
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    enabled: bool = True
    created_at: datetime
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


class WebhookAttempt(BaseModel):
    """One try at delivering an event to an endpoint: when, the HTTP status (None when no
    answer came), how long it took in milliseconds, and the error if any."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    status: int | None
    latency_ms: int
    error: str | None = None


class WebhookDelivery(BaseModel):
    """An event's delivery to one endpoint, as stored in ``webhook_deliveries`` (``_id`` =
    ``<webhook_id>:<event_id>``, so an event is queued once per endpoint): the event's body,
    its attempts, and when the next is due while ``pending``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_id: str
    event_id: str
    event_type: str
    body: str = Field(description="the JSON sent, as on dc.events")
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: list[WebhookAttempt] = Field(default_factory=list)
