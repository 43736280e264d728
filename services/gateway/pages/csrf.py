"""The form token of the pages: every press (a POST) carries, besides the link token, a CSRF
token derived from it, so a form made elsewhere cannot act with a link it does not hold."""

from __future__ import annotations

import hashlib
import hmac

from shared.config import Settings


def csrf_token(settings: Settings, token: str, delivery_id: str) -> str:
    """The form token a POST for ``delivery_id`` under link ``token`` must carry.

    Returns:
      str: HMAC-SHA256 (RFC 2104) of the delivery id and token under ``link_secret``,
      64 hex digits.
    """
    message = f"csrf\x00{delivery_id}\x00{token}".encode()
    return hmac.new(settings.link_secret.encode(), message, hashlib.sha256).hexdigest()


def csrf_ok(settings: Settings, token: str, delivery_id: str, given: str | None) -> bool:
    """True if ``given`` is :func:`csrf_token`'s value, compared in constant time."""
    if not given:
        return False
    return hmac.compare_digest(csrf_token(settings, token, delivery_id), given)
