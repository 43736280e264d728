"""What every handler needs: settings, database, broker, the caller and their rate limit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.auth import Unauthenticated, actor_from_token, bearer_token
from services.gateway.errors import HttpError
from services.gateway.ratelimit import RateLimiter
from services.runtime.collections import DELIVERIES
from shared.config import Settings
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.roles import Actor, Role


@dataclass
class Gateway:
    """The gateway's shared state, one per application (``app[GATEWAY]``).

    Parameters:
      settings(Settings): The ``DC_`` settings.
      db(AsyncDatabase): The product's database (``DC_MONGO_DB``).
      broker(RabbitmqBroker): Publishes with confirms (``bootstrap.make_broker``).
      limiter(RateLimiter): The per-caller rate limit, shared by the API and the pages.
      isv_sections(OrderedDict): The ISVs' scorecard sections rendered lately, by ISV id:
        (``time.monotonic()`` when read, HTML), least recently shown first (``pages.mine``).
    """

    settings: Settings
    db: AsyncDatabase
    broker: RabbitmqBroker
    limiter: RateLimiter
    isv_sections: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)


GATEWAY = web.AppKey("gateway", Gateway)
#: The protection space named in every Bearer challenge (RFC 7235 §2.2).
REALM = "delivery-center"


def challenge(problem: Unauthenticated) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750 §3): ``Bearer realm=..., error=...``.

    ``error`` is ``invalid_request`` for a missing or malformed Authorization header (§3.1 says
    a request with no credentials SHOULD get no error code; we name one so that every 401 says
    why) and ``invalid_token`` for a token that is not accepted.
    """
    # error_description is a quoted-string of %x20-21 / %x23-5B / %x5D-7E only (§3).
    description = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in str(problem))
    return (
        f'Bearer realm="{REALM}", error="{problem.error}", error_description="{description[:200]}"'
    )


def gateway_of(request: web.Request) -> Gateway:
    """The :class:`Gateway` of the application serving ``request``."""
    return request.app[GATEWAY]


def caller(request: web.Request, *roles: Role) -> Actor:
    """The authenticated caller; 401 without a valid token (with a ``WWW-Authenticate``
    challenge), 429 over its rate limit, 403 if its role is not in ``roles``."""
    gateway = gateway_of(request)
    try:
        token = bearer_token(request.headers.getall("Authorization", []))
        actor = actor_from_token(gateway.settings.jwt_secret, token)
    except Unauthenticated as problem:
        raise HttpError(
            401,
            "unauthenticated",
            str(problem),
            headers={"WWW-Authenticate": challenge(problem)},
        ) from problem
    wait = gateway.limiter.take((actor.role.value, actor.id))
    if wait:
        raise HttpError(
            429,
            "rate_limited",
            f"too many requests from {actor.role} {actor.id}; retry in {wait} s",
            retry_after=wait,
        )
    if roles and actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise HttpError(403, "forbidden", f"role {actor.role} may not do this; allowed: {allowed}")
    return actor


def is_party(actor: Actor, delivery: dict) -> bool:
    """The delivery's customer or ISV (its ``PARTY_ID_FIELDS``), or an admin."""
    if actor.role == Role.ADMIN:
        return True
    field = PARTY_ID_FIELDS.get(actor.role)
    return field is not None and delivery.get(field) == actor.id


def may_see(actor: Actor, delivery: dict) -> bool:
    """Admins and the marketplace see every delivery; a customer or ISV only their own."""
    return actor.role == Role.MARKETPLACE or is_party(actor, delivery)


#: What :func:`visible_delivery` reads by default: enough to judge who may see it.
PARTIES_ONLY: Mapping[str, int] = dict.fromkeys(PARTY_ID_FIELDS.values(), 1)


async def visible_delivery(
    db: AsyncDatabase,
    actor: Actor,
    delivery_id: str,
    *,
    may: Callable[[Actor, dict], bool] = is_party,
    projection: Mapping[str, int] | None = PARTIES_ONLY,
) -> dict[str, Any] | None:
    """The stored delivery ``delivery_id`` (``projection`` of it; None: all of it) if ``may``
    (:func:`is_party`, or :func:`may_see`) lets ``actor`` see it; None when there is none or it
    is not theirs, which every caller answers alike: 404, so the two look the same."""
    document = await db[DELIVERIES].find_one({"_id": delivery_id}, projection)
    return document if document is not None and may(actor, document) else None
