"""``DC_AMQP_URL`` with several nodes, the first of them dead: the gateway's publish, the
workflow's consumer and the event stream each connect to the one that answers, in a virtual
host of their own; a lost connection is made again through the list."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from pymongo import MongoClient

from services.runtime.bootstrap import make_broker
from services.runtime.bus import command_message, publish
from services.runtime.collections import DELIVERIES
from services.runtime.event_stream import EventStream
from services.workflow.actors import register
from shared.config import Settings
from shared.contracts.queues import COMMANDS_QUEUE
from tests.integration.bus import open_command
from tests.integration.event_stream import EventTap
from tooling.provision import amqp_reachable, free_port
from tooling.vhosts import create_vhost, delete_vhost


@pytest.fixture
def two_nodes() -> Iterator[tuple[Settings, str]]:
    """Settings whose ``DC_AMQP_URL`` lists a dead node, then the running broker (in a new
    virtual host); and the running broker's URL alone."""
    base = Settings()
    name = f"dc_failover_{uuid.uuid4().hex[:12]}"
    alive = create_vhost(base.amqp_url, name)
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}/{name}"
    settings = base.model_copy(update={"amqp_url": f"{dead},{alive}", "mongo_db": name})
    try:
        yield settings, alive
    finally:
        delete_vhost(base.amqp_url, name)
        with MongoClient(base.mongo_url) as client:
            client.drop_database(name)


def test_a_dead_first_node_is_passed_over_end_to_end(two_nodes: tuple[Settings, str]):
    settings, alive = two_nodes
    assert amqp_reachable(settings.amqp_url, timeout=2.0)
    tap = EventTap(alive)
    gateway = make_broker(settings)
    workflow = make_broker(settings)
    register(workflow, settings)
    worker = dramatiq.Worker(
        workflow, queues={COMMANDS_QUEUE}, worker_threads=1, worker_timeout=200
    )
    worker.start()
    envelope = open_command("f")
    try:
        asyncio.run(publish(gateway, command_message(envelope)))
        with MongoClient(settings.mongo_url) as client:
            deliveries = client[settings.mongo_db][DELIVERIES]
            deadline = time.monotonic() + 20
            while deliveries.find_one({"_id": envelope.delivery_id}) is None:
                assert time.monotonic() < deadline, "the command was not applied"
                time.sleep(0.1)
        while not any(r.body.get("delivery_id") == envelope.delivery_id for r in tap.drain()):
            assert time.monotonic() < deadline, f"no event: {tap.received}"
            time.sleep(0.05)
    finally:
        worker.stop()
        gateway.close()
        workflow.close()
        tap.connection.close()

    # The event stream's own connections: a lost one is made again through the whole list.
    stream = EventStream(settings.amqp_url)
    try:
        stream._channel()  # noqa: SLF001 - this thread's connection, opened as a publish would
        stream._local.connection.close()  # noqa: SLF001 - as if its node went away
        assert stream._open_channel() is None  # noqa: SLF001
        channel = stream._channel()  # noqa: SLF001
        assert channel.is_open and channel.connection._impl.params.port == 5672  # noqa: SLF001
    finally:
        stream.close()
