"""Nothing lost, nothing twice: worker crashes under load, on real processes and servers.

Each load test runs its own system (own RabbitMQ virtual host and database), kills or stops a
worker while deliveries run, then checks every delivery, command and email. Faults are paced
by progress, not by the clock: each lands once a given share of the commands has been
applied, so it always hits work in flight however fast or loaded the machine is. A message
delivered twice, which needs no load, is tried on the session's system. Outages of RabbitMQ
and the database are in ``test_outages``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from tests.integration.bus import publish_raw
from tests.integration.client import Api
from tests.integration.event_stream import EventTap
from tests.integration.faults import (
    CALM,
    assert_exactly_once,
    label,
    progress_points,
    report_figures,
    run_under_fault,
)
from tests.integration.load import LoadReport, work_timeout
from tests.integration.system import System, running_system
from tests.integration.waiting import drain
from tooling.mailsink import MailSink

#: Enough deliveries that every fault meets ``CONCURRENCY`` commands in flight at every stage
#: of the process; more would only repeat the same situations, slower.
KILL_DELIVERIES = 50
KILLS = 5
RESTART_DELIVERIES = 40


@pytest.fixture
def fault_system(mail: MailSink, request) -> Iterator[System]:
    with running_system(mail.port, label(request), **CALM) as system:
        yield system


@pytest.mark.long(40)
@pytest.mark.timeout(work_timeout(KILL_DELIVERIES))
async def test_killing_the_workflow_loses_and_duplicates_nothing(
    fault_system: System, mail: MailSink, request: pytest.FixtureRequest
):
    report = LoadReport()
    kills = 0
    tap = EventTap(fault_system.amqp_url)

    async def keep_killing() -> None:
        nonlocal kills
        workflow = fault_system.services["workflow"]
        for applied in progress_points(KILL_DELIVERIES, KILLS):
            await report.wait_until_applied(applied)
            # SIGKILL: no chance to acknowledge or relay anything.
            await asyncio.to_thread(workflow.kill)
            kills += 1
            workflow.start()

    await run_under_fault(fault_system, KILL_DELIVERIES, report, lambda _api: keep_killing())
    assert kills == KILLS
    figures = await assert_exactly_once(fault_system, mail, report)
    published = await _each_event_once(tap, report.delivery_ids)
    tap.close()
    report_figures(
        request,
        f"workflow kill -9 ({kills} kills)",
        f"{figures}; dc.events: {published} messages, "
        f"{len(report.delivery_ids) * 4} events after deduplication",
    )


async def _each_event_once(tap: EventTap, delivery_ids: list[str]) -> int:
    """Every delivery's four events reached ``dc.events``: after deduplication by
    ``event_id`` each delivery has exactly them, versions 1 to 4 in order. Returns how many
    messages arrived (duplicates included: a relay cut short by a kill publishes again)."""
    expected = ["delivery_opened", "demand_submitted", "stage_finished", "delivery_completed"]

    def unique(delivery_id: str) -> list[dict]:
        seen: dict[str, dict] = {}
        for received in tap.of(delivery_id):
            seen.setdefault(received.body["event_id"], received.body)
        return sorted(seen.values(), key=lambda body: body["version"])

    await tap.wait_for(lambda _: all(len(unique(d)) >= len(expected) for d in delivery_ids))
    for delivery_id in delivery_ids:
        events = unique(delivery_id)
        assert [e["event_type"] for e in events] == expected, delivery_id
        assert [e["version"] for e in events] == [1, 2, 3, 4], delivery_id
    return len(tap.received)


@pytest.mark.long(40)
@pytest.mark.timeout(work_timeout(RESTART_DELIVERIES))
async def test_sigterm_during_load_loses_nothing(
    fault_system: System, mail: MailSink, request: pytest.FixtureRequest
):
    """A graceful stop hands back or finishes in-flight work: restart each worker under load."""
    report = LoadReport()
    workers = ("workflow", "notifier", "timers")
    stops = 0

    async def keep_restarting() -> None:
        nonlocal stops
        points = progress_points(RESTART_DELIVERIES, len(workers))
        for applied, name in zip(points, workers, strict=True):
            await report.wait_until_applied(applied)
            await asyncio.to_thread(fault_system.services[name].stop)  # SIGTERM, then wait
            fault_system.services[name].start()
            stops += 1

    await run_under_fault(fault_system, RESTART_DELIVERIES, report, lambda _api: keep_restarting())
    assert stops == len(workers)
    figures = await assert_exactly_once(fault_system, mail, report)
    report_figures(request, f"SIGTERM ({stops} graceful restarts)", figures)


async def test_the_same_message_twice_makes_one_transition_and_one_email(
    system: System, api: Api, mail: MailSink
):
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
        publish_raw(
            system.amqp_url, COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, envelope, uuid.uuid4().hex
        )
    await api.wait_for_state(delivery_id, customer, "in_delivery")
    # The second copy is handled too once the workflow stops with its queue empty (it is
    # started again: the session's system goes on).
    await drain(system, "workflow", COMMANDS_QUEUE)
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
        publish_raw(
            system.amqp_url,
            NOTIFICATIONS_QUEUE,
            SEND_NOTIFICATIONS_ACTOR,
            event,
            uuid.uuid4().hex,
        )
    await mail.wait_for_async(lambda m: event["event_id"] in m["Message-ID"], count=2)
    await drain(system, "notifier", NOTIFICATIONS_QUEUE)
    copies = [m for m in list(mail.messages) if event["event_id"] in m["Message-ID"]]
    assert sorted(m["To"] for m in copies) == sorted(
        [opened["customer_email"], opened["isv_email"]]
    )
    assert original["Message-ID"] != copies[0]["Message-ID"]
