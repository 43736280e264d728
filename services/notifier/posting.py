"""One HTTP attempt at a webhook: resolve the host, refuse addresses the policy forbids, POST.

The host is resolved once, here, and the connection goes to exactly the addresses checked (a
resolver pinned to them), so a name that resolves to a public address for the check and to a
private one for the connection (DNS rebinding) reaches nothing it should not. Redirects are not
followed: a 3xx is an answer like any other non-2xx.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from shared.domain.webhook_addresses import address_problem

#: Seconds an attempt may take, from resolving the host to the end of the answer's headers.
ATTEMPT_TIMEOUT = 10.0
#: The longest error text kept in an attempt's record.
ERROR_LENGTH = 500


def user_agent() -> str:
    """``Delivery-Center-Webhooks/<version>``: what a webhook request says sent it, with the
    installed ``delivery-center`` package's version (``unknown`` if it is not installed)."""
    try:
        installed = version("delivery-center")
    except PackageNotFoundError:
        installed = "unknown"
    return f"Delivery-Center-Webhooks/{installed}"


#: The ``User-Agent`` of every webhook request, instead of aiohttp's ``Python/… aiohttp/…``.
USER_AGENT = user_agent()


@dataclass(frozen=True)
class Answer:
    """How an attempt ended: the HTTP status (None when no answer came), how long it took,
    and what went wrong if anything (None for a 2xx)."""

    status: int | None
    latency_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class _Pinned(AbstractResolver):
    """Answers every lookup with addresses resolved (and checked) beforehand."""

    def __init__(self, results: list[ResolveResult]):
        self.results = results

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{**result, "port": port or result["port"]} for result in self.results]

    async def close(self) -> None:
        return None


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    return " ".join(text.split())[:ERROR_LENGTH]


async def resolve_allowed(url: str, allowed: frozenset[str]) -> list[ResolveResult]:
    """The addresses ``url``'s host resolves to, all of them allowed by the policy
    (``shared.domain.webhook_addresses``). Raises PermissionError naming a refused address,
    OSError if the host does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    resolver = ThreadedResolver()
    try:
        results = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
    finally:
        await resolver.close()
    if not results:
        raise OSError(f"{host} resolves to no address")
    problem = address_problem([result["host"] for result in results], allowed)
    if problem is not None:
        raise PermissionError(f"refused: {host} {problem}")
    return results


async def post(url: str, body: bytes, headers: dict[str, str], allowed: frozenset[str]) -> Answer:
    """POST ``body`` to ``url`` once, within :data:`ATTEMPT_TIMEOUT`, and say how it went;
    the request says ``User-Agent:`` :data:`USER_AGENT`. Never raises for a failure of the
    attempt (refused address, DNS, connection, timeout): it is in the answer's ``error``."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(ATTEMPT_TIMEOUT):
            results = await resolve_allowed(url, allowed)
            connector = aiohttp.TCPConnector(resolver=_Pinned(results), force_close=True)
            timeout = aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT)
            async with (
                aiohttp.ClientSession(
                    connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
                ) as session,
                session.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                status = response.status
    except TimeoutError:
        return Answer(None, took(), f"no answer within {ATTEMPT_TIMEOUT:.0f} s")
    except PermissionError as refused:
        return Answer(None, took(), str(refused))
    except (aiohttp.ClientError, OSError, ValueError) as error:
        return Answer(None, took(), _error_text(error))
    if 200 <= status < 300:
        return Answer(status, took(), None)
    return Answer(status, took(), f"answered HTTP {status}")
