"""JSON Web Tokens: HS256 with ``DC_JWT_SECRET``, claims ``sub``, ``role`` and ``exp``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from pydantic import ValidationError

from shared.domain.roles import Actor, Role

ALGORITHM = "HS256"
#: Roles a token may carry; ``system`` is the timer worker's and never comes from outside.
TOKEN_ROLES = frozenset({Role.MARKETPLACE, Role.CUSTOMER, Role.ISV, Role.ADMIN})


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, wrongly signed or has an unknown role."""


def mint_token(
    secret: str, *, sub: str, role: Role | str, ttl: timedelta = timedelta(hours=12)
) -> str:
    role = Role(role)
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {sorted(r.value for r in TOKEN_ROLES)}")
    claims = {"sub": sub, "role": role.value, "exp": datetime.now(UTC) + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def actor_from_token(secret: str, token: str) -> Actor:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("token has expired") from error
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from error
    role = claims["role"]
    if not isinstance(role, str) or role not in TOKEN_ROLES:
        allowed = ", ".join(sorted(TOKEN_ROLES))
        raise InvalidToken(f"unknown role {str(role)[:40]!r}; a token's role is one of {allowed}")
    try:
        return Actor(id=claims["sub"], role=Role(role))
    except ValidationError as error:
        raise InvalidToken("claim 'sub' must be a string of 1 to 200 characters") from error
