"""What every handler needs: settings, database, broker, the caller and their rate limit."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.auth import InvalidToken, actor_from_token
from services.gateway.errors import HttpError
from services.gateway.ratelimit import RateLimiter
from shared.config import Settings
from shared.domain.roles import Actor, Role


@dataclass
class Gateway:
    settings: Settings
    db: AsyncDatabase
    broker: RabbitmqBroker
    limiter: RateLimiter


GATEWAY = web.AppKey("gateway", Gateway)


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def caller(request: web.Request, *roles: Role) -> Actor:
    """The authenticated caller; 401 without a valid token, 429 over its rate limit, 403 if its
    role is not in ``roles``."""
    gateway = gateway_of(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "unauthenticated", "send 'Authorization: Bearer <JWT>'")
    try:
        actor = actor_from_token(gateway.settings.jwt_secret, token.strip())
    except InvalidToken as error:
        raise HttpError(401, "unauthenticated", str(error)) from error
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
    """The delivery's customer or ISV, or an admin."""
    if actor.role == Role.ADMIN:
        return True
    if actor.role == Role.CUSTOMER:
        return delivery.get("customer_id") == actor.id
    if actor.role == Role.ISV:
        return delivery.get("isv_id") == actor.id
    return False


def may_see(actor: Actor, delivery: dict) -> bool:
    """Admins and the marketplace see every delivery; a customer or ISV only their own."""
    return actor.role == Role.MARKETPLACE or is_party(actor, delivery)
