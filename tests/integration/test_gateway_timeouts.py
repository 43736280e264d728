"""Timeouts on every outbound call: a broker that never confirms answers 503 in bounded time
(and leaves no command record behind); database calls give up instead of hanging."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from services.gateway import app as gateway_app
from services.gateway import publishing
from services.gateway.context import GATEWAY, Gateway
from services.gateway.errors import HttpError
from services.gateway.ratelimit import RateLimiter
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import Confirm
from shared.domain.roles import Actor, Role
from tests.integration.system import System
from tests.integration.waiting import PATIENCE


class SilentBroker:
    """A broker that takes a message and does not confirm it until the test lets it."""

    def __init__(self) -> None:
        self.taken = threading.Event()
        self.release = threading.Event()

    def enqueue(self, message: object) -> None:
        self.taken.set()
        self.release.wait(PATIENCE)


async def test_a_broker_that_does_not_confirm_answers_503_in_bounded_time(
    system: System, monkeypatch
):
    monkeypatch.setattr(publishing, "PUBLISH_TIMEOUT_SECONDS", 0.3)
    client = AsyncMongoClient(system.env["DC_MONGO_URL"], tz_aware=True)
    try:
        db = client[system.env["DC_MONGO_DB"]]
        broker = SilentBroker()
        gateway = Gateway(settings=Settings(), db=db, broker=broker, limiter=RateLimiter(1, 1))
        envelope = CommandEnvelope(
            command_id=uuid.uuid4().hex,
            delivery_id=uuid.uuid4().hex,
            actor=Actor(id="c-1", role=Role.CUSTOMER),
            issued_at=datetime.now(UTC),
            command=Confirm(),
        )
        started = time.monotonic()
        try:
            with pytest.raises(HttpError) as refused:
                await publishing.accept(gateway, envelope, "body-hash")
            # Bounded by the publish timeout, not by the broker: it still holds the message.
            assert broker.taken.is_set() and not broker.release.is_set()
            # The order of the publish timeout, with room for a machine loaded many times over.
            assert time.monotonic() - started < 30 * publishing.PUBLISH_TIMEOUT_SECONDS
        finally:
            broker.release.set()
        assert refused.value.status == 503 and refused.value.code == "broker_timeout"
        assert refused.value.extra["retry_after"] > 0
        # Not accepted: no record says otherwise.
        assert await db.commands.find_one({"_id": envelope.command_id}) is None
    finally:
        await client.close()


def test_the_gateways_database_calls_have_a_socket_timeout(monkeypatch):
    monkeypatch.setattr(gateway_app, "make_broker", lambda settings: None)
    app = gateway_app.create_app(Settings())
    options = app[GATEWAY].db.client.options.pool_options
    assert 0 < options.socket_timeout <= 30
    assert 0 < options.connect_timeout <= 30
