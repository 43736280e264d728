"""A per-caller rate limit: a token bucket per token ``sub`` and role answers 429 with
Retry-After once a caller's burst is spent, without slowing anyone else."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.integration.client import Api
from tests.integration.system import System, running_system
from tests.integration.waiting import until
from tooling.mailsink import MailSink


@pytest.fixture(scope="module")
def limited_system(mail: MailSink) -> Iterator[System]:
    with running_system(
        mail.port, "ratelimit", DC_RATE_LIMIT_PER_SECOND="2", DC_RATE_LIMIT_BURST="3"
    ) as running:
        yield running


@pytest.fixture
async def limited_api(limited_system: System) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, limited_system.base_url, limited_system.jwt_secret)


async def _burst(api: Api, party, requests: int) -> list[int]:
    """Statuses of ``requests`` list requests sent at once: they reach the gateway together,
    so however slow the machine, the bucket refills little while they are counted."""
    answers = await asyncio.gather(
        *(api.request("GET", "/v1/deliveries", party) for _ in range(requests))
    )
    return [status for status, _ in answers]


async def test_a_caller_over_its_rate_gets_429_with_retry_after(limited_api: Api):
    api = limited_api
    customer = api.party("customer")
    started = time.monotonic()
    statuses = await _burst(api, customer, 10)
    took = time.monotonic() - started
    # The burst of 3 passes, then the refill (2 a second) while the burst was being served.
    assert set(statuses) == {200, 429}, statuses
    assert 3 <= statuses.count(200) <= 3 + int(2 * took), (statuses, took)
    async with api.session.get(api.base_url + "/v1/deliveries", headers=customer.headers) as r:
        assert r.status == 429
        assert int(r.headers["Retry-After"]) >= 1
        answer = await r.json()
    assert answer["error"] == "rate_limited"

    # Others are not slowed: another caller, and the same id under another role.
    assert (await api.request("GET", "/v1/deliveries", api.party("customer")))[0] == 200
    same_sub_as_isv = api.party("isv", sub=customer.sub)
    assert (await api.request("GET", "/v1/deliveries", same_sub_as_isv))[0] == 200

    # Once the bucket has refilled a little, the caller may go again, and is held again.
    async def allowed() -> bool:
        return (await api.request("GET", "/v1/deliveries", customer))[0] == 200

    await until(allowed, "the caller is let through again")
    assert 429 in await _burst(api, customer, 10)


async def test_health_and_the_document_are_not_rate_limited(limited_api: Api):
    for _ in range(6):
        assert (await limited_api.request("GET", "/healthz"))[0] == 200
