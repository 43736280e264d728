"""One real system per test session: RabbitMQ, FerretDB/MongoDB, an SMTP sink, four services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from pymongo import MongoClient

from tests.integration.client import Api, Party
from tests.integration.system import System, running_system
from tests.integration.waiting import PATIENCE
from tooling.mailsink import MailSink


class PatientMailSink(MailSink):
    """The SMTP sink, waiting ``PATIENCE`` seconds for an email unless a test says otherwise:
    a loaded machine may take much longer than the sink's default to deliver one."""

    def wait_for(self, predicate, timeout: float = PATIENCE, count: int = 1):
        return super().wait_for(predicate, timeout, count)

    async def wait_for_async(self, predicate, timeout: float = PATIENCE, count: int = 1):
        return await super().wait_for_async(predicate, timeout, count)


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    with PatientMailSink("127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture(scope="session")
def system(mail: MailSink) -> Iterator[System]:
    with running_system(mail.port, "main") as running:
        yield running


@pytest.fixture(scope="session")
def db(system: System):
    with MongoClient(system.env["DC_MONGO_URL"], tz_aware=True) as client:
        yield client[system.env["DC_MONGO_DB"]]


@pytest.fixture
async def api(system: System) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, system.base_url, system.jwt_secret)


@pytest.fixture
def parties(api: Api) -> dict[str, Party]:
    """A fresh marketplace, customer, ISV and admin for each test."""
    return {role: api.party(role) for role in ("marketplace", "customer", "isv", "admin")}
