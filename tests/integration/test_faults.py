"""Nothing lost, nothing twice: crashes and outages under load, on real processes and servers.

Each test runs its own system (own RabbitMQ virtual host and database) and kills or stops a
part of it while deliveries run, then checks every delivery, command and email.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pika
import pytest
from pymongo import MongoClient

from services.infra.mailsink import MailSink
from services.infra.provision import ensure_ferretdb, mongo_reachable
from shared.config import Settings
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from tests.integration.client import Api
from tests.integration.load import EVENTS_PER_BASIC_DELIVERY, LoadReport, run_basic_deliveries
from tests.integration.system import System, running_system

#: Deadlines far away, so that only the parties move these deliveries.
CALM = {"DC_CONFIRM_WINDOW": "P14D", "DC_REMINDER_LEAD": "P3D"}


@pytest.fixture
def fault_system(mail: MailSink, request) -> Iterator[System]:
    with running_system(mail.port, request.node.name[:40], **CALM) as system:
        yield system


@pytest.fixture
async def fault_api(fault_system: System) -> AsyncIterator[Api]:
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Api(session, fault_system.base_url, fault_system.jwt_secret)


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


async def _assert_exactly_once(system: System, mail: MailSink, report: LoadReport) -> None:
    """Every delivery completed once, every accepted command applied, one email per transition."""
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
    arrived = await mail.wait_for_async(
        lambda m: m["X-Delivery-Id"] in ours, timeout=120, count=expected
    )
    await asyncio.sleep(2)  # a duplicate would arrive late: give it the chance
    arrived = [m for m in list(mail.messages) if m["X-Delivery-Id"] in ours]
    per_transition = Counter((m["X-Delivery-Id"], m["X-Event-Type"], m["To"]) for m in arrived)
    duplicated = {key: n for key, n in per_transition.items() if n > 1}
    assert not duplicated, duplicated
    assert len(arrived) == expected


async def test_killing_the_workflow_loses_and_duplicates_nothing(
    fault_system: System, fault_api: Api, mail: MailSink
):
    stop = asyncio.Event()
    kills = 0

    async def keep_killing() -> None:
        nonlocal kills
        workflow = fault_system.services["workflow"]
        while not stop.is_set():
            await asyncio.sleep(3)
            workflow.kill()  # SIGKILL: no chance to acknowledge or relay anything
            kills += 1
            await asyncio.sleep(0.3)
            workflow.start()

    killer = asyncio.create_task(keep_killing())
    try:
        report = await run_basic_deliveries(fault_api, 200, concurrency=40, timeout=120)
    finally:
        stop.set()
        await killer
    assert kills >= 3, f"only {kills} kills happened during the run"
    await _assert_exactly_once(fault_system, mail, report)
    print(
        f"\nworkflow kill -9: {len(report.delivery_ids)} deliveries, {kills} kills, "
        f"{len(report.accepted)} commands accepted, lost 0, duplicated 0"
    )


async def test_sigterm_during_load_loses_nothing(
    fault_system: System, fault_api: Api, mail: MailSink
):
    """A graceful stop hands back or finishes in-flight work: restart each worker under load."""
    stop = asyncio.Event()
    stops = 0

    async def keep_restarting() -> None:
        nonlocal stops
        while not stop.is_set():
            for name in ("workflow", "notifier", "timers"):
                await asyncio.sleep(2)
                await asyncio.to_thread(fault_system.services[name].stop)  # SIGTERM, then wait
                fault_system.services[name].start()
                stops += 1

    restarter = asyncio.create_task(keep_restarting())
    try:
        report = await run_basic_deliveries(fault_api, 100, concurrency=25, timeout=120)
    finally:
        stop.set()
        await restarter
    assert stops >= 3, f"only {stops} graceful stops happened during the run"
    await _assert_exactly_once(fault_system, mail, report)
    print(f"\nSIGTERM: {len(report.delivery_ids)} deliveries, {stops} graceful restarts, lost 0")


def _rabbitmqctl() -> str:
    path = shutil.which("rabbitmqctl")
    if path is None:
        pytest.fail("this test restarts the local RabbitMQ node and needs rabbitmqctl on PATH")
    return path


async def test_a_rabbitmq_restart_loses_nothing_accepted(
    fault_system: System, fault_api: Api, mail: MailSink
):
    rabbitmqctl = _rabbitmqctl()

    async def restart_broker() -> None:
        await asyncio.sleep(2)
        await asyncio.to_thread(
            subprocess.run, [rabbitmqctl, "stop_app"], check=True, capture_output=True
        )
        await asyncio.sleep(3)
        await asyncio.to_thread(
            subprocess.run, [rabbitmqctl, "start_app"], check=True, capture_output=True
        )

    restart = asyncio.create_task(restart_broker())
    try:
        report = await run_basic_deliveries(fault_api, 100, concurrency=25, timeout=120)
    finally:
        await restart
    assert report.answers[503] > 0, f"the gateway never saw the broker down: {report.answers}"
    await _assert_exactly_once(fault_system, mail, report)
    print(
        f"\nRabbitMQ restart: {len(report.delivery_ids)} deliveries, "
        f"answers {dict(report.answers)}, lost 0, duplicated 0"
    )


async def test_a_database_outage_loses_and_duplicates_nothing(
    fault_system: System, fault_api: Api, mail: MailSink
):
    settings = Settings(mongo_url=fault_system.env["DC_MONGO_URL"])
    pid_file = settings.state_dir / "ferretdb" / "ferretdb.pid"
    if not pid_file.exists():
        pytest.fail(f"this test stops the locally provisioned FerretDB and needs {pid_file}")

    async def outage() -> None:
        await asyncio.sleep(2)
        pid = int(pid_file.read_text().strip())
        await asyncio.to_thread(subprocess.run, ["kill", "-TERM", str(pid)], check=True)
        for _ in range(100):
            if not mongo_reachable(settings.mongo_url, timeout_ms=200):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        await asyncio.to_thread(ensure_ferretdb, settings)

    stop_start = asyncio.create_task(outage())
    try:
        report = await run_basic_deliveries(fault_api, 100, concurrency=25, timeout=180)
    finally:
        await stop_start
    await _assert_exactly_once(fault_system, mail, report)
    print(
        f"\nFerretDB outage: {len(report.delivery_ids)} deliveries, "
        f"answers {dict(report.answers)}, lost 0, duplicated 0"
    )


async def test_the_same_message_twice_makes_one_transition_and_one_email(
    fault_system: System, fault_api: Api, mail: MailSink
):
    api = fault_api
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
    await asyncio.sleep(1)  # let the second copy be consumed too
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
    await asyncio.sleep(2)
    copies = [m for m in list(mail.messages) if event["event_id"] in m["Message-ID"]]
    assert sorted(m["To"] for m in copies) == sorted(
        [opened["customer_email"], opened["isv_email"]]
    )
    assert original["Message-ID"] != copies[0]["Message-ID"]
