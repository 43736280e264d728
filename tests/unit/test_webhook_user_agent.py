"""A webhook request names its sender: ``User-Agent: Delivery-Center-Webhooks/<version>``
(``services.notifier.posting``), not aiohttp's default."""

from __future__ import annotations

import socket
from importlib.metadata import version

from aiohttp import web

from services.notifier import posting
from services.notifier.posting import USER_AGENT, post


def test_the_user_agent_names_the_webhooks_and_the_package_version():
    expected = f"Delivery-Center-Webhooks/{version('delivery-center')}"
    assert expected == USER_AGENT
    assert "aiohttp" not in USER_AGENT and "Python" not in USER_AGENT


def test_without_the_package_installed_the_version_is_unknown(monkeypatch):
    def missing(name: str) -> str:
        raise posting.PackageNotFoundError(name)

    monkeypatch.setattr(posting, "version", missing)
    assert posting.user_agent() == "Delivery-Center-Webhooks/unknown"


async def test_a_request_carries_it_whatever_other_headers_it_has():
    seen: list[str] = []

    async def take(request: web.Request) -> web.Response:
        seen.extend(request.headers.getall("User-Agent", []))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/hook"
        for headers in ({}, {"content-type": "application/json", "webhook-id": "e-1"}):
            answer = await post(url, b"{}", headers, frozenset({"loopback"}))
            assert answer.delivered, answer
    finally:
        await runner.cleanup()
    assert seen == [USER_AGENT, USER_AGENT]
