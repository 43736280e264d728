"""One real system per test session: RabbitMQ, FerretDB/MongoDB, an SMTP sink, four services."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from pymongo import MongoClient

from services.infra.mailsink import MailSink
from services.infra.provision import ensure_infrastructure
from shared.config import Settings
from tests.integration.client import Api, Party
from tests.integration.system import System, free_port, purge_queues, test_environment

JWT_SECRET = "integration-tests-secret-at-least-32-bytes"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    with MailSink("127.0.0.1", 0) as sink:
        yield sink


@pytest.fixture(scope="session")
def system(mail: MailSink) -> Iterator[System]:
    settings = Settings()
    ensure_infrastructure(settings)
    http_port = free_port()
    db_name = f"dc_test_{os.getpid()}_{int(time.time())}"
    env = test_environment(db_name=db_name, http_port=http_port, smtp_port=mail.port, secret=JWT_SECRET)
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    purge_queues(env["DC_AMQP_URL"])
    running = System(
        env=env,
        base_url=f"http://127.0.0.1:{http_port}",
        jwt_secret=JWT_SECRET,
        amqp_url=env["DC_AMQP_URL"],
        log_dir=log_dir,
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()
        with MongoClient(env["DC_MONGO_URL"]) as client:
            client.drop_database(db_name)


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
