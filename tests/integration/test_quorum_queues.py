"""DC_QUEUE_TYPE=quorum on the local (single-node) RabbitMQ, in virtual hosts of their own:
every queue the product declares is a quorum queue with its delivery limit, a command goes
through the real workflow actor on them, and a classic queue left from before stops a worker's
start with an error naming it (services.runtime.queue_types)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import dramatiq
import pytest
from pymongo import MongoClient

from services.runtime.bootstrap import make_broker, run_worker_until_signalled
from services.runtime.bus import command_message
from services.runtime.collections import DELIVERIES
from services.runtime.queue_types import (
    DEAD_LETTER_DELIVERY_LIMIT,
    DELIVERY_LIMIT,
    QueueTypeMismatch,
)
from services.workflow.actors import register
from shared.config import Settings
from shared.contracts.queues import COMMANDS_QUEUE, NOTIFICATIONS_QUEUE
from tests.integration.bus import open_command
from tooling.vhosts import create_vhost, delete_vhost, queue_types


@pytest.fixture
def quorum_settings() -> Iterator[Settings]:
    base = Settings()
    name = f"dc_quorum_{uuid.uuid4().hex[:12]}"
    settings = base.model_copy(
        update={
            "amqp_url": create_vhost(base.amqp_url, name),
            "mongo_db": name,
            "queue_type": "quorum",
        }
    )
    try:
        yield settings
    finally:
        delete_vhost(base.amqp_url, name)
        with MongoClient(base.mongo_url) as client:
            client.drop_database(name)


def test_every_queue_is_quorum_and_a_command_is_applied_on_them(quorum_settings: Settings):
    vhost = quorum_settings.mongo_db
    broker = make_broker(quorum_settings)
    register(broker, quorum_settings)
    worker = dramatiq.Worker(broker, queues={COMMANDS_QUEUE}, worker_threads=1, worker_timeout=200)
    worker.start()
    envelope = open_command("q")
    try:
        broker.enqueue(command_message(envelope))
        with MongoClient(quorum_settings.mongo_url) as client:
            deliveries = client[quorum_settings.mongo_db][DELIVERIES]
            deadline = time.monotonic() + 20
            while deliveries.find_one({"_id": envelope.delivery_id}) is None:
                assert time.monotonic() < deadline, "the command was not applied"
                time.sleep(0.1)
    finally:
        worker.stop()
        broker.close()

    declared = queue_types(quorum_settings.amqp_url, vhost)
    for queue in (COMMANDS_QUEUE, NOTIFICATIONS_QUEUE):  # the event was relayed on the second
        for name, limit in (
            (queue, DELIVERY_LIMIT),
            (f"{queue}.DQ", DELIVERY_LIMIT),
            (f"{queue}.XQ", DEAD_LETTER_DELIVERY_LIMIT),
        ):
            kind, arguments = declared.pop(name)
            assert (kind, arguments["x-delivery-limit"]) == ("quorum", limit), name
    assert declared == {}, "the product declared no other queue"


def test_a_classic_queue_stops_a_quorum_start_with_its_name(quorum_settings: Settings):
    classic = make_broker(quorum_settings.model_copy(update={"queue_type": "classic"}))
    classic.declare_queue(COMMANDS_QUEUE, ensure=True)
    classic.close()
    assert queue_types(quorum_settings.amqp_url, quorum_settings.mongo_db)[COMMANDS_QUEUE][0] == (
        "classic"
    )

    broker = make_broker(quorum_settings)
    with pytest.raises(QueueTypeMismatch) as refused:
        run_worker_until_signalled(broker, {COMMANDS_QUEUE}, threads=1)
    assert (refused.value.queue, refused.value.current) == (COMMANDS_QUEUE, "classic")
    message = str(refused.value)
    assert "queue 'dc.commands'" in message and "exists as a classic queue" in message
    assert "DC_QUEUE_TYPE=quorum" in message
