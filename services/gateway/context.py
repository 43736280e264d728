"""What every handler needs: settings, database, broker, and the caller."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.auth import InvalidToken, actor_from_token
from services.gateway.errors import HttpError
from shared.config import Settings
from shared.domain.roles import Actor, Role


@dataclass
class Gateway:
    settings: Settings
    db: AsyncDatabase
    broker: RabbitmqBroker


GATEWAY = web.AppKey("gateway", Gateway)


def gateway_of(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def caller(request: web.Request, *roles: Role) -> Actor:
    """The authenticated caller; 401 without a valid token, 403 if its role is not in ``roles``."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpError(401, "unauthenticated", "send 'Authorization: Bearer <JWT>'")
    try:
        actor = actor_from_token(gateway_of(request).settings.jwt_secret, token.strip())
    except InvalidToken as error:
        raise HttpError(401, "unauthenticated", str(error)) from error
    if roles and actor.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise HttpError(403, "forbidden", f"role {actor.role} may not do this; allowed: {allowed}")
    return actor


def may_see(actor: Actor, delivery: dict) -> bool:
    """Admins and the marketplace see every delivery; a customer or ISV only their own."""
    if actor.role in (Role.ADMIN, Role.MARKETPLACE):
        return True
    party_field = "customer_id" if actor.role == Role.CUSTOMER else "isv_id"
    return delivery.get(party_field) == actor.id
