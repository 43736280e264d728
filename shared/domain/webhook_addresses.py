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
    ``https`` URL (RFC 9110 §4.2) with a host, no user information, no whitespace or control
    characters, a port from 1 to 65535, at most 2,000 characters, and a host the HTTP client
    can call as written: an IPv4 address only in its canonical ``a.b.c.d`` form (``127.1``,
    ``2130706433`` or ``0x7f.1`` resolve, but no client sends them alike), an IPv6 address
    without a zone."""
    if len(url) > 2000:
        return "is longer than 2000 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"is not a URL: {error}"
    if parts.scheme.lower() not in SCHEMES:
        return "must be an http or https URL"
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        return "must not contain spaces or control characters"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if port == 0:
        return "must name a port from 1 to 65535"
    return _host_problem(parts.hostname)


def _host_problem(host: str) -> str | None:
    if "%" in host:
        return "must not name an IPv6 zone"
    last_label = host.rstrip(".").rsplit(".", 1)[-1]
    if ":" not in host and (last_label.isdigit() or last_label.lower().startswith("0x")):
        # No top-level domain is numeric: the host means an IPv4 address.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return "must write an IPv4 address as four decimal numbers, a.b.c.d"
    return None


#: NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped, 6to4 (RFC 3056), NAT64
    (RFC 6052) or a Teredo client (RFC 4380); None for others."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def address_kind(address: str) -> str | None:
    """The refused kind of an IP address (:data:`ADDRESS_KINDS`), or None for a public one.

    Public means globally reachable in IANA's special-purpose registries (Python's
    ``is_global``): every other address counts as ``private`` unless it is ``loopback`` or
    ``link_local`` (so shared address space 100.64.0.0/10, benchmarking, documentation,
    reserved, unspecified and multicast addresses are refused too). An IPv6 address that
    leads to an IPv4 one (mapped, 6to4, NAT64, Teredo) is judged by that one as well."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and (kind := address_kind(str(embedded))) is not None:
            return kind
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link_local"
    if not ip.is_global or ip.is_multicast:
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
