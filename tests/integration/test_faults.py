"""Nothing lost, nothing twice: crashes and outages under load, on real processes and servers.

Each test runs its own system (own RabbitMQ virtual host and database) and kills or stops a
part of it while deliveries run, then checks every delivery, command and email. A test that
stops RabbitMQ or the database stops a server of its own (``own_servers``), never the
machine's shared one that other test runs use at the same time.

Faults are paced by progress, not by the clock: each lands once a given share of the commands
has been applied, so it always hits work in flight however fast or loaded the machine is.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import aiohttp
import pika
import pytest
from pymongo import MongoClient

from services.infra.mailsink import MailSink
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from tests.integration.client import Api
from tests.integration.load import (
    COMMANDS_PER_BASIC_DELIVERY,
    EVENTS_PER_BASIC_DELIVERY,
    STALL_TIMEOUT,
    LoadReport,
    run_basic_deliveries,
    run_one,
    work_timeout,
)
from tests.integration.own_servers import OwnFerretDB, OwnRabbitMQ, own_ferretdb, own_rabbitmq
from tests.integration.system import System, running_system
from tests.integration.waiting import stop_drained, until

#: Deadlines far away, so that only the parties move these deliveries.
CALM = {"DC_CONFIRM_WINDOW": "P14D", "DC_REMINDER_LEAD": "P3D"}

#: Enough deliveries that every fault finds dozens of commands in flight (``CONCURRENCY``)
#: at every stage of the process; more would only repeat the same situations, slower.
KILL_DELIVERIES = 50
KILLS = 5
RESTART_DELIVERIES = 40
OUTAGE_DELIVERIES = 40
CONCURRENCY = 40


def _label(request) -> str:
    return request.node.name[:40]


@pytest.fixture
def fault_system(mail: MailSink, request) -> Iterator[System]:
    with running_system(mail.port, _label(request), **CALM) as system:
        yield system


@pytest.fixture
def own_broker() -> Iterator[OwnRabbitMQ]:
    with own_rabbitmq() as broker:
        yield broker


@pytest.fixture
def system_on_own_broker(mail: MailSink, request, own_broker: OwnRabbitMQ) -> Iterator[System]:
    with running_system(
        mail.port, _label(request), own_broker_url=own_broker.amqp_url, **CALM
    ) as system:
        yield system


@pytest.fixture
def own_database() -> Iterator[OwnFerretDB]:
    with own_ferretdb() as server:
        yield server


@pytest.fixture
def system_on_own_database(mail: MailSink, request, own_database: OwnFerretDB) -> Iterator[System]:
    with running_system(
        mail.port, _label(request), DC_MONGO_URL=own_database.mongo_url, **CALM
    ) as system:
        yield system


@asynccontextmanager
async def _api(system: System) -> AsyncIterator[Api]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Api(session, system.base_url, system.jwt_secret)


def _progress_points(deliveries: int, faults: int) -> list[int]:
    """Applied-command counts at which to inject ``faults`` faults, spread over the run."""
    total = deliveries * COMMANDS_PER_BASIC_DELIVERY
    return [total * n // (faults + 1) for n in range(1, faults + 1)]


def _publish_raw(amqp_url: str, queue: str, actor: str, payload: dict, message_id: str) -> None:
    """Publish as a non-Python system would: the dramatiq message as plain JSON."""
    body = {
        "queue_name": queue,
        "actor_name": actor,
        "args": [payload],
        "kwargs": {},
        "options": {},
        "message_id": message_id,
        "message_timestamp": int(time.time() * 1000),
    }
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "", queue, json.dumps(body).encode(), pika.BasicProperties(delivery_mode=2)
        )
    finally:
        connection.close()


async def _arrived(mail: MailSink, ours: set[str], expected: int) -> None:
    """Until ``expected`` emails about ``ours`` arrived; fails only if none came for
    ``STALL_TIMEOUT`` s, so a slow machine just takes longer."""
    while True:
        count = sum(1 for m in list(mail.messages) if m["X-Delivery-Id"] in ours)
        if count >= expected:
            return
        await mail.wait_for_async(
            lambda m: m["X-Delivery-Id"] in ours, timeout=STALL_TIMEOUT, count=count + 1
        )


async def _assert_exactly_once(system: System, mail: MailSink, report: LoadReport) -> None:
    """Every delivery completed once, every accepted command applied, one email per transition.

    Leaves the system's notifier stopped.
    """
    with MongoClient(system.env["DC_MONGO_URL"]) as client:
        db = client[system.env["DC_MONGO_DB"]]
        documents = list(db.deliveries.find({"_id": {"$in": report.delivery_ids}}))
        assert len(documents) == len(report.delivery_ids)
        for document in documents:
            command_ids = [entry["command_id"] for entry in document["history"]]
            assert document["state"] == "completed", document["_id"]
            assert document["version"] == len(command_ids) == 4, document["_id"]
            assert len(set(command_ids)) == len(command_ids), f"duplicated: {command_ids}"
            assert document["refusals"] == []
        outcomes = Counter(
            c["status"] for c in db.command_outcomes.find({"_id": {"$in": sorted(report.accepted)}})
        )
        assert outcomes == {"applied": len(report.accepted)}, outcomes

        ours = set(report.delivery_ids)
        expected = len(ours) * len(EVENTS_PER_BASIC_DELIVERY) * 2  # customer and ISV, each event
        await _arrived(mail, ours, expected)
        # A duplicate would come late: from an outbox a crash left unrelayed (the workflow's
        # sweep relays it again), or from a redelivered event. Wait until every outbox of ours
        # is relayed, then until the notifier has handled everything it was given.
        await until(
            lambda: (
                db.deliveries.count_documents({"_id": {"$in": sorted(ours)}, "outbox": {"$ne": []}})
                == 0
            ),
            "every outbox of the run relayed",
        )
    await stop_drained(system, "notifier", NOTIFICATIONS_QUEUE)
    arrived = [m for m in list(mail.messages) if m["X-Delivery-Id"] in ours]
    per_transition = Counter((m["X-Delivery-Id"], m["X-Event-Type"], m["To"]) for m in arrived)
    duplicated = {key: n for key, n in per_transition.items() if n > 1}
    assert not duplicated, duplicated
    assert len(arrived) == expected


@pytest.mark.timeout(work_timeout(KILL_DELIVERIES))
async def test_killing_the_workflow_loses_and_duplicates_nothing(
    fault_system: System, mail: MailSink
):
    report = LoadReport()
    kills = 0

    async def keep_killing() -> None:
        nonlocal kills
        workflow = fault_system.services["workflow"]
        for applied in _progress_points(KILL_DELIVERIES, KILLS):
            await report.wait_until_applied(applied)
            # SIGKILL: no chance to acknowledge or relay anything.
            await asyncio.to_thread(workflow.kill)
            kills += 1
            workflow.start()

    async with _api(fault_system) as api, asyncio.TaskGroup() as running:
        running.create_task(
            run_basic_deliveries(api, KILL_DELIVERIES, concurrency=CONCURRENCY, report=report)
        )
        running.create_task(keep_killing())
    assert kills == KILLS
    await _assert_exactly_once(fault_system, mail, report)
    print(
        f"\nworkflow kill -9: {len(report.delivery_ids)} deliveries, {kills} kills, "
        f"{len(report.accepted)} commands accepted, lost 0, duplicated 0"
    )


@pytest.mark.timeout(work_timeout(RESTART_DELIVERIES))
async def test_sigterm_during_load_loses_nothing(fault_system: System, mail: MailSink):
    """A graceful stop hands back or finishes in-flight work: restart each worker under load."""
    report = LoadReport()
    workers = ("workflow", "notifier", "timers")
    stops = 0

    async def keep_restarting() -> None:
        nonlocal stops
        points = _progress_points(RESTART_DELIVERIES, len(workers))
        for applied, name in zip(points, workers, strict=True):
            await report.wait_until_applied(applied)
            await asyncio.to_thread(fault_system.services[name].stop)  # SIGTERM, then wait
            fault_system.services[name].start()
            stops += 1

    async with _api(fault_system) as api, asyncio.TaskGroup() as running:
        running.create_task(
            run_basic_deliveries(api, RESTART_DELIVERIES, concurrency=CONCURRENCY, report=report)
        )
        running.create_task(keep_restarting())
    assert stops == len(workers)
    await _assert_exactly_once(fault_system, mail, report)
    print(f"\nSIGTERM: {len(report.delivery_ids)} deliveries, {stops} graceful restarts, lost 0")


@pytest.mark.timeout(work_timeout(RESTART_DELIVERIES))
async def test_a_rabbitmq_restart_loses_nothing_accepted(
    own_broker: OwnRabbitMQ, system_on_own_broker: System, mail: MailSink
):
    report = LoadReport()

    async def restart_broker(api: Api) -> None:
        [applied] = _progress_points(RESTART_DELIVERIES, 1)
        await report.wait_until_applied(applied)
        refused_before = report.answers[503]
        await asyncio.to_thread(own_broker.stop_app)
        try:
            # The run's clients are all waiting for outcomes now; one more marketplace opens
            # a delivery, and is refused until the broker is back. Down until it was refused.
            late_opening = asyncio.create_task(run_one(api, report))
            await until(
                lambda: report.answers[503] > refused_before,
                "the gateway answers 503 while the broker is down",
                timeout=STALL_TIMEOUT,
            )
        finally:
            await asyncio.to_thread(own_broker.start_app)
        await late_opening

    async with _api(system_on_own_broker) as api, asyncio.TaskGroup() as running:
        running.create_task(
            run_basic_deliveries(api, RESTART_DELIVERIES, concurrency=CONCURRENCY, report=report)
        )
        running.create_task(restart_broker(api))
    assert report.answers[503] > 0, f"the gateway never saw the broker down: {report.answers}"
    await _assert_exactly_once(system_on_own_broker, mail, report)
    print(
        f"\nRabbitMQ restart: {len(report.delivery_ids)} deliveries, "
        f"answers {dict(report.answers)}, lost 0, duplicated 0"
    )


@pytest.mark.timeout(work_timeout(OUTAGE_DELIVERIES))
async def test_a_database_outage_loses_and_duplicates_nothing(
    own_database: OwnFerretDB, system_on_own_database: System, mail: MailSink
):
    report = LoadReport()

    async def outage() -> None:
        [applied] = _progress_points(OUTAGE_DELIVERIES, 1)
        await report.wait_until_applied(applied)
        refused_before = report.refusals()
        await asyncio.to_thread(own_database.stop)
        try:
            # Down until a client has been refused for it.
            await report.wait_for_refusal(more_than=refused_before)
        finally:
            await asyncio.to_thread(own_database.start)

    async with _api(system_on_own_database) as api, asyncio.TaskGroup() as running:
        running.create_task(
            run_basic_deliveries(api, OUTAGE_DELIVERIES, concurrency=CONCURRENCY, report=report)
        )
        running.create_task(outage())
    await _assert_exactly_once(system_on_own_database, mail, report)
    print(
        f"\nFerretDB outage: {len(report.delivery_ids)} deliveries, "
        f"answers {dict(report.answers)}, polls {dict(report.polls)}, lost 0, duplicated 0"
    )


async def test_the_same_message_twice_makes_one_transition_and_one_email(
    fault_system: System, mail: MailSink
):
    async with _api(fault_system) as api:
        await _the_same_message_twice(fault_system, api, mail)


async def _the_same_message_twice(fault_system: System, api: Api, mail: MailSink) -> None:
    marketplace, customer, isv = api.party("marketplace"), api.party("customer"), api.party("isv")
    opened = await api.open_delivery(marketplace, customer, isv)
    delivery_id = opened["delivery_id"]
    command_id = f"bus-{uuid.uuid4().hex}"
    envelope = {
        "command_id": command_id,
        "delivery_id": delivery_id,
        "actor": {"id": customer.sub, "role": "customer"},
        "issued_at": "2026-11-25T10:00:00Z",
        "command": {
            "type": "submit_demand",
            "contact": {"name": "Ann", "phone": "+1 555 0100", "email": "ann@example.com"},
            "demands": "Five pages",
        },
    }
    for _ in range(2):
        _publish_raw(
            fault_system.amqp_url, COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, envelope, uuid.uuid4().hex
        )
    await api.wait_for_state(delivery_id, customer, "in_delivery")
    # The second copy is handled too once the workflow stops with its queue empty.
    await stop_drained(fault_system, "workflow", COMMANDS_QUEUE)
    delivery = await api.delivery(delivery_id, customer)
    assert [h["command_id"] for h in delivery["history"]].count(command_id) == 1
    assert delivery["version"] == 2 and delivery["refusals"] == []

    # The same event twice to the notifier: one email per recipient.
    [original] = await mail.wait_for_async(
        lambda m: (
            m["X-Delivery-Id"] == delivery_id
            and m["X-Event-Type"] == "demand_submitted"
            and m["To"] == opened["customer_email"]
        )
    )
    event = {
        "event_id": uuid.uuid4().hex,
        "type": "stage_finished",
        "delivery_id": delivery_id,
        "command_id": "replayed",
        "command": "finish",
        "actor": {"id": isv.sub, "role": "isv"},
        "occurred_at": "2026-11-25T10:00:00Z",
        "from_state": "in_delivery",
        "to_state": "awaiting_confirmation",
        "delivery": {
            "delivery_id": delivery_id,
            "order_id": opened["order_id"],
            "product_id": opened["product_id"],
            "process": "basic",
            "state": "awaiting_confirmation",
            "version": 3,
            "customer_id": customer.sub,
            "customer_email": opened["customer_email"],
            "isv_id": isv.sub,
            "isv_email": opened["isv_email"],
        },
    }
    for _ in range(2):
        _publish_raw(
            fault_system.amqp_url,
            NOTIFICATIONS_QUEUE,
            SEND_NOTIFICATIONS_ACTOR,
            event,
            uuid.uuid4().hex,
        )
    await mail.wait_for_async(lambda m: event["event_id"] in m["Message-ID"], count=2)
    await stop_drained(fault_system, "notifier", NOTIFICATIONS_QUEUE)
    copies = [m for m in list(mail.messages) if event["event_id"] in m["Message-ID"]]
    assert sorted(m["To"] for m in copies) == sorted(
        [opened["customer_email"], opened["isv_email"]]
    )
    assert original["Message-ID"] != copies[0]["Message-ID"]
