"""The webhook endpoints API's request bodies and answers (``webhooks.py``): one pydantic model
each, from which the OpenAPI document's components are generated like ``models.py``'s.

A request body refuses unknown fields and is strict: a boolean is ``true`` or ``false``, not
``"false"``, ``0`` or ``"yes"``, and a string is a string, not a number (pydantic's strict
mode). An answer allows fields beyond those declared, like every answer of the gateway. A
secret is in two answers only: the endpoint just registered and the secret just rotated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from shared.contracts.webhooks import SUBSCRIBABLE_EVENT_TYPES
from shared.domain.webhook_addresses import url_problem

#: Longest ``description`` of an endpoint, in characters.
MAX_DESCRIPTION = 500
#: The shape of a webhook URL as JSON Schema states it (ECMA-262 and Python alike).
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f/?#@]+(?:[/?#][^\x00-\x20\x7f]*)?$"
#: Longest ``url``, in characters (``webhook_addresses.url_problem`` says the same).
MAX_URL = 2000
#: The subscribable types, in the order the document lists them.
_KNOWN_TYPES = sorted(SUBSCRIBABLE_EVENT_TYPES)


def unknown_event_types(event_types: list[str]) -> list[str]:
    """Those of ``event_types`` that no endpoint may subscribe to, in their order, once each."""
    return list(dict.fromkeys(t for t in event_types if t not in SUBSCRIBABLE_EVENT_TYPES))


class NewWebhook(BaseModel):
    """POST /v1/webhooks: the endpoint to call and the event types it receives."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(
        max_length=MAX_URL,
        # What JSON Schema can say of url_problem (which checks it, with its own words): the
        # scheme, no user information, no spaces or control characters; the rest is in the
        # description.
        json_schema_extra={"pattern": URL_PATTERN},
        description="an absolute http or https URL without user name or password; its host "
        "may not resolve to a loopback, private or link-local address unless the installation "
        "allows it (DC_WEBHOOK_ALLOWED_ADDRESSES)",
    )
    event_types: list[str] = Field(
        description="the event types it receives, at least one; repeats count once",
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": _KNOWN_TYPES}},
    )
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        problem = url_problem(url)
        if problem is not None:
            raise PydanticCustomError("webhook_url", "the URL {problem}", {"problem": problem})
        return url

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, event_types: list[str]) -> list[str]:
        if not event_types:
            raise PydanticCustomError("event_types", "name at least one event type")
        unknown = unknown_event_types(event_types)
        if unknown:
            raise PydanticCustomError(
                "event_types",
                "unknown event type {unknown}; known: {known}",
                {"unknown": ", ".join(unknown), "known": ", ".join(_KNOWN_TYPES)},
            )
        return list(dict.fromkeys(event_types))


class WebhookChange(BaseModel):
    """PATCH /v1/webhooks/{webhook_id}: enable or disable the endpoint."""

    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: StrictBool = Field(
        description='true or false (nothing else: not "false", 0 or "yes"); false: it '
        "receives nothing until enabled again"
    )


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class WebhookView(_Answer):
    """A registered endpoint, without its secret."""

    webhook_id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    created_at: datetime
    disabled_at: datetime | None = Field(description="when it was disabled; null while enabled")
    disabled_reason: str | None = Field(
        description="why: an admin's PATCH, or deliveries failing for too long"
    )

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> WebhookView:
        """From a stored endpoint (``WEBHOOK_ENDPOINTS``)."""
        return cls(
            webhook_id=document["_id"],
            url=document["url"],
            event_types=document["event_types"],
            description=document.get("description"),
            enabled=document.get("enabled", True),
            created_at=document["created_at"],
            disabled_at=document.get("disabled_at"),
            disabled_reason=document.get("disabled_reason"),
        )


class WebhookList(_Answer):
    """GET /v1/webhooks: every endpoint, oldest first."""

    webhooks: list[WebhookView]


class NewWebhookAnswer(_Answer):
    """201 to POST /v1/webhooks: the endpoint and its signing secret, shown this once."""

    webhook_id: str
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    created_at: datetime
    secret: str = Field(description="whsec_ and the base64 of 24 random bytes; shown once")


class RotatedSecret(_Answer):
    """200 to POST /v1/webhooks/{webhook_id}/rotate-secret: the new secret, shown this once;
    the previous one still signs for a day. While an earlier rotation's previous secret is
    still signing, it stays the previous one, to the end of its day, and the secret in
    between stops signing at once."""

    webhook_id: str
    secret: str = Field(description="whsec_ and the base64 of 24 random bytes; shown once")
    previous_secret_until: datetime = Field(
        description="until then each delivery carries a signature with the previous secret "
        "too: the secret replaced now, for a day; or, if an earlier rotation's previous "
        "secret was still signing, that one, kept to the end of its day (the secret in "
        "between stops signing at once)"
    )


class AttemptView(_Answer):
    """One try at delivering an event: when, the HTTP status (null when no answer came), how
    long it took, and the error if any."""

    at: datetime
    status: int | None
    latency_ms: int
    error: str | None


class DeliveryLogEntry(_Answer):
    """An event's delivery to the endpoint: its attempts, and when the next is due while
    ``pending``."""

    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    created_at: datetime
    next_attempt_at: datetime | None
    attempts: list[AttemptView]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> DeliveryLogEntry:
        """From a stored delivery (``WEBHOOK_DELIVERIES``; its body need not be read)."""
        return cls(
            event_id=document["event_id"],
            event_type=document["event_type"],
            status=document["status"],
            created_at=document["created_at"],
            next_attempt_at=document.get("next_attempt_at"),
            attempts=[
                AttemptView(
                    at=a["at"],
                    status=a.get("status"),
                    latency_ms=a.get("latency_ms", 0),
                    error=a.get("error"),
                )
                for a in document.get("attempts", [])
            ],
        )


class DeliveryLog(_Answer):
    """GET /v1/webhooks/{webhook_id}/deliveries: the endpoint's deliveries, newest first."""

    deliveries: list[DeliveryLogEntry]


class ReplayAnswer(_Answer):
    """202 to POST /v1/webhooks/{webhook_id}/replay: the deliveries queued again; the
    notifier sends them shortly."""

    webhook_id: str
    queued: int = Field(description="events of the endpoint's types queued to be sent again")
    next_since: datetime | None = Field(
        default=None,
        description="present when the replay stopped at its bound with events left: replay "
        "again with this since to go on (an event or two may then come twice; deduplicate by "
        "webhook-id)",
    )
