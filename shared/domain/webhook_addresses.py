"""Which webhook URLs Delivery Center may call: http(s) only, and by default never an address
on this machine or a private network, so that registering an endpoint cannot make the
service reach what only it can reach (server-side request forgery, OWASP SSRF).

Pure: a caller resolves host names itself and asks about each address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

#: Kinds of address refused unless the installation allows them (``DC_WEBHOOK_ALLOWED_ADDRESSES``).
ADDRESS_KINDS = ("loopback", "private", "link_local")
SCHEMES = ("http", "https")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook endpoint's URL, or None: an absolute ``http`` or
    ``https`` URL (RFC 9110 §4.2) with a host, no user information, at most 2,000 characters."""
    if len(url) > 2000:
        return "is longer than 2000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a URL: {error}"
    del port  # read only to check it
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http or https URL"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    return None


def address_kind(address: str) -> str | None:
    """The refused kind of an IP address (:data:`ADDRESS_KINDS`), or None for a public one.
    Unspecified, multicast and reserved addresses count as ``private``."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_private or ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "private"
    return None


def address_problem(addresses: Iterable[str], allowed: frozenset[str]) -> str | None:
    """Why a host resolving to ``addresses`` may not be called, or None. Every address must be
    public or of an ``allowed`` kind: a host with one refused address is refused."""
    for address in addresses:
        kind = address_kind(address)
        if kind is not None and kind not in allowed:
            return f"resolves to a {kind.replace('_', '-')} address ({address})"
    return None
