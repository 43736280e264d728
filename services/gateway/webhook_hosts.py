"""Whether a webhook's URL may be called from here: its host resolved (or read as an IP
literal) and every address judged by the installation's rule
(``shared.domain.webhook_addresses``, ``DC_WEBHOOK_ALLOWED_ADDRESSES``). A refusal is a 422
about the ``url`` field.

The notifier must judge the addresses again when it calls: a name may resolve otherwise later.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from services.gateway.errors import HttpError
from shared.domain.webhook_addresses import address_problem

#: Seconds a host name may take to resolve before the URL is refused.
RESOLVE_TIMEOUT = 5


def unique(values: Iterable[str]) -> list[str]:
    """``values`` in their order, each once."""
    return list(dict.fromkeys(values))


def url_refused(message: str) -> HttpError:
    """422 ``invalid_input`` about the ``url`` field."""
    return HttpError(
        422, "invalid_input", f"url: {message}", fields=[{"field": "url", "message": message}]
    )


async def host_addresses(host: str, port: int | None) -> list[str]:
    """The IP addresses ``host`` stands for: itself when it is an IP literal, else what it
    resolves to (every family). 422 about ``url`` when it does not resolve within
    :data:`RESOLVE_TIMEOUT` seconds."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT
        )
    except TimeoutError as failure:
        raise url_refused(
            f"its host {host} did not resolve within {RESOLVE_TIMEOUT} s"
        ) from failure
    except (OSError, UnicodeError, ValueError) as failure:
        raise url_refused(f"its host {host} does not resolve to an address") from failure
    addresses = unique(str(info[4][0]) for info in found)
    if not addresses:
        raise url_refused(f"its host {host} does not resolve to an address")
    return addresses


async def check_address(url: str, allowed: frozenset[str]) -> None:
    """422 about ``url`` unless every address its host stands for may be called
    (``address_problem`` with the installation's ``allowed`` kinds)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    addresses = await host_addresses(host, parts.port)
    problem = address_problem(addresses, allowed)
    if problem is not None:
        raise url_refused(f"its host {host} {problem}; webhooks call public addresses only")
