"""Health: /healthz when the process is up, /readyz when the broker and database answer."""

from __future__ import annotations

from tests.integration.client import Api


async def test_healthz_answers_200_without_a_token(api: Api):
    assert await api.request("GET", "/healthz") == (200, {"status": "ok"})


async def test_readyz_answers_200_with_broker_and_database_up(api: Api):
    assert await api.request("GET", "/readyz") == (200, {"status": "ready"})
