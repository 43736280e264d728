"""JSON Web Tokens: HS256 with ``DC_JWT_SECRET``, claims ``sub``, ``role`` and ``exp``.

Claims are strictly typed, beyond what PyJWT checks (it takes ``"9999999999"`` or ``true``
for a time): ``exp``, ``iat`` and ``nbf`` are JSON numbers (NumericDate, RFC 7519 §2), ``sub``
and ``role`` strings. ``exp`` is at most :data:`MAX_TOKEN_LIFETIME` ahead, exactly (no
allowance); ``iat`` and ``nbf`` may be at most :data:`LEEWAY` in the future (clock skew, RFC
7519 §4.1.4-6). A time may be any JSON number: integers of any size are compared exactly, never
turned into floats. Other claims are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import jwt
from pydantic import ValidationError

from shared.clocks import CLOCK_LEEWAY
from shared.domain.roles import ACTOR_ID_RULE, Actor, Role, actor_id_problem
from shared.durations import format_duration

ALGORITHM = "HS256"
#: Roles a token may carry; ``system`` is the timer worker's and never comes from outside.
TOKEN_ROLES = frozenset({Role.MARKETPLACE, Role.CUSTOMER, Role.ISV, Role.ADMIN})
#: The longest a token may live: its ``exp`` at most this far ahead. A leaked token is good
#: for at most this long; ``delivery-center token`` mints 12 hours by default.
MAX_TOKEN_LIFETIME = timedelta(days=30)
#: How far the issuer's clock may be ahead of ours, for ``iat`` and ``nbf`` only: the lifetime
#: bound is exact, so that "at most 30 days" holds to the second. The links' allowance too
#: (``shared.clocks``).
LEEWAY = CLOCK_LEEWAY
#: ``b64token`` of RFC 6750 §2.1, the form of a bearer token in the Authorization header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_TIME_CLAIMS = ("exp", "nbf", "iat")


class Unauthenticated(Exception):
    """No acceptable bearer token; ``error`` is the RFC 6750 §3.1 error code to answer with."""

    error: ClassVar[str] = "invalid_token"


class InvalidRequest(Unauthenticated):
    """The Authorization header is missing, repeated, of another scheme or not a b64token."""

    error = "invalid_request"


class InvalidToken(Unauthenticated):
    """The token is malformed, wrongly signed, expired, too long-lived, not yet valid, or a
    claim is missing or of the wrong type, or names an unknown role."""

    error = "invalid_token"


def bearer_token(authorization: Sequence[str]) -> str:
    """The token of the request's ``Authorization`` headers (all of them, usually one).

    Raises :class:`InvalidRequest` unless there is exactly one header, of the form
    ``Bearer <b64token>`` (scheme case-insensitive, RFC 7235 §2.1; RFC 6750 §2.1).
    """
    usage = "send 'Authorization: Bearer <JWT>'"
    if not authorization:
        raise InvalidRequest(f"no Authorization header; {usage}")
    if len(authorization) > 1:
        raise InvalidRequest(f"{len(authorization)} Authorization headers; {usage} once")
    scheme, _, credentials = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidRequest(f"the Authorization scheme is not Bearer; {usage}")
    token = credentials.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest(f"the bearer token is empty or not a b64token (RFC 6750); {usage}")
    return token


def mint_token(
    secret: str, *, sub: str, role: Role | str, ttl: timedelta = timedelta(hours=12)
) -> str:
    """A token for ``sub`` as ``role``, issued now and valid for ``ttl`` (≤ 30 days).

    Raises ValueError for a ``sub`` that is no actor's id (``roles.ACTOR_ID_RULE``: the
    gateway would refuse the token), a role a token may not carry or a ``ttl`` out of range.
    """
    problem = actor_id_problem(sub)
    if problem is not None:
        raise ValueError(f"sub: {problem}")
    role = Role(role)
    if role not in TOKEN_ROLES:
        raise ValueError(f"role must be one of {sorted(r.value for r in TOKEN_ROLES)}")
    if not timedelta(0) < ttl <= MAX_TOKEN_LIFETIME:
        raise ValueError(
            f"ttl must be more than 0 and at most {format_duration(MAX_TOKEN_LIFETIME)}"
        )
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": sub, "role": role.value, "iat": now, "exp": now + int(ttl.total_seconds())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _numeric_dates(claims: dict[str, Any]) -> dict[str, int | float]:
    """``exp``, ``nbf`` and ``iat`` where present, each a finite JSON number (not a bool).

    An integer stays an integer, whatever its size (``10**400``): Python compares it with a
    float exactly, while turning it into one (``math.isfinite``) raises ``OverflowError``.
    A float is finite unless JSON spelled it ``1e400`` (read as infinity) or ``NaN``.
    """
    times = {}
    for name in _TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "true or false" if isinstance(value, bool) else type(value).__name__
            raise InvalidToken(
                f"claim {name!r} must be a JSON number of seconds since 1970 "
                f"(NumericDate, RFC 7519 §2), not {kind}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidToken(f"claim {name!r} must be a finite number")
        times[name] = value
    return times


def actor_from_token(secret: str, token: str, now: datetime | None = None) -> Actor:
    """The caller a token names; ``now`` defaults to the current time.

    Raises :class:`InvalidToken` (with the reason in its message) for any token that is not
    signed with ``secret`` (HS256 only) or breaks the module's rules on claims.
    """
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            # PyJWT's own time checks coerce strings and booleans; ours below do not.
            options={
                "require": ["sub", "role", "exp"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidTokenError as error:
        raise InvalidToken(f"invalid token: {error}") from error
    times = _numeric_dates(claims)
    clock = (now or datetime.now(UTC)).timestamp()
    leeway = LEEWAY.total_seconds()
    if times["exp"] <= clock:
        raise InvalidToken("token has expired")
    if times["exp"] > clock + MAX_TOKEN_LIFETIME.total_seconds():
        raise InvalidToken(
            f"token lives too long: 'exp' may be at most "
            f"{format_duration(MAX_TOKEN_LIFETIME)} ahead"
        )
    if times.get("nbf", clock) > clock + leeway:
        raise InvalidToken("token is not valid yet ('nbf' is in the future)")
    if times.get("iat", clock) > clock + leeway:
        raise InvalidToken("token was issued in the future ('iat')")
    sub, role = claims["sub"], claims["role"]
    if not isinstance(role, str) or role not in TOKEN_ROLES:
        allowed = ", ".join(sorted(TOKEN_ROLES))
        raise InvalidToken(f"unknown role {str(role)[:40]!r}; a token's role is one of {allowed}")
    sub_rule = f"claim 'sub' must be a string of {ACTOR_ID_RULE}"
    if not isinstance(sub, str):
        raise InvalidToken(sub_rule)
    try:
        return Actor(id=sub, role=Role(role))
    except ValidationError as error:
        raise InvalidToken(sub_rule) from error
