"""The public event stream, as a marketplace consumer sees it: a queue bound to ``dc.events``
on the session's system gets each transition of every process, once, in order, with the
routing key, properties and body the contract names (``shared.contracts.public_events``).

Events of other tests' deliveries (their deadlines, say) come through the same queue: each
test looks at its own delivery's. The session's system has short deadlines (reminded 4 s
after a finish, confirmed automatically after 8): each confirmation here follows its finish at
once, as in every whole-process test on that system, so none slips into these sequences.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pika
import pytest

from shared.contracts.queues import APPLY_COMMAND_ACTOR, COMMANDS_QUEUE
from tests.integration.bus import publish_raw
from tests.integration.client import BASIC_STEPS, DEMAND, STEPWISE_STEPS, Api, Party
from tests.integration.event_stream import EventTap, Received
from tests.integration.system import System
from tests.integration.waiting import drain, until
from tests.unit.ooxml_builder import docx as docx_package
from tooling.vhosts import queue_depths


@pytest.fixture(scope="module")
def tap(system: System) -> Iterator[EventTap]:
    tap = EventTap(system.amqp_url)
    yield tap
    tap.close()


def _parties(api: Api) -> dict[str, Party]:
    return api.parties()


async def _applied(api: Api, delivery_id: str, party: Party, body: dict[str, Any]) -> str:
    return await api.applied(delivery_id, party, body)


async def _events(tap: EventTap, delivery_id: str, last: str) -> list[Received]:
    """The delivery's events, once its ``last`` event type has arrived."""
    await tap.wait_for(lambda _: any(r.body["event_type"] == last for r in tap.of(delivery_id)))
    return tap.of(delivery_id)


def _assert_well_formed(events: list[Received], process: str) -> None:
    """Routing key, AMQP properties and versions as the contract says."""
    for received in events:
        body, properties = received.body, received.properties
        assert received.routing_key == f"delivery.{process}.{body['event_type']}"
        assert properties.message_id == body["event_id"]
        assert properties.correlation_id == body["command_id"]
        assert properties.type == body["event_type"]
        assert properties.content_type == "application/json"
        assert properties.delivery_mode == 2
        assert body["process"] == process
    assert [r.body["version"] for r in events] == list(range(1, len(events) + 1))
    assert len({r.body["event_id"] for r in events}) == len(events)


async def _upload(api: Api, delivery_id: str, party: Party, name: str, data: bytes) -> str:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    path = f"/v1/deliveries/{delivery_id}/attachments"
    status, answer = await api.request("POST", path, party, data=form)
    assert status == 201, answer
    return answer["attachment_id"]


async def _basic(api: Api, delivery_id: str, p: dict[str, Party]) -> None:
    for role, body in BASIC_STEPS:
        await _applied(api, delivery_id, p[role], body)


async def _double_check(api: Api, delivery_id: str, p: dict[str, Party]) -> None:
    await _basic(api, delivery_id, p)
    described = {"type": "request_warranty_service", "description": "Cart broken"}
    await _applied(api, delivery_id, p["customer"], described)
    await _applied(api, delivery_id, p["customer"], {"type": "confirm_warranty"})


async def _contract(api: Api, delivery_id: str, p: dict[str, Party]) -> None:
    await _applied(api, delivery_id, p["customer"], DEMAND)
    contract = await _upload(api, delivery_id, p["isv"], "contract.docx", docx_package())
    await _applied(api, delivery_id, p["isv"], {"type": "upload_contract", "attachment": contract})
    await _applied(api, delivery_id, p["isv"], {"type": "finish"})
    await _applied(api, delivery_id, p["customer"], {"type": "confirm"})


async def _stepwise(api: Api, delivery_id: str, p: dict[str, Party]) -> None:
    for role, body in STEPWISE_STEPS:
        await _applied(api, delivery_id, p[role], body)


PROCESSES = {
    "basic": (
        _basic,
        {},
        ["delivery_opened", "demand_submitted", "stage_finished", "delivery_completed"],
    ),
    "double_check": (
        _double_check,
        {"warranty_period": "P30D"},
        [
            "delivery_opened",
            "demand_submitted",
            "stage_finished",
            "stage_confirmed",
            "warranty_service_requested",
            "delivery_completed",
        ],
    ),
    "contract": (
        _contract,
        {},
        [
            "delivery_opened",
            "demand_submitted",
            "contract_uploaded",
            "stage_finished",
            "delivery_completed",
        ],
    ),
    "stepwise": (
        _stepwise,
        {},
        [
            "delivery_opened",
            "demand_submitted",
            "stage_finished",
            "changes_requested",
            "stage_finished",
            "stage_confirmed",
            "stage_finished",
            "stage_confirmed",
            "stage_finished",
            "stage_confirmed",
            "delivery_completed",
        ],
    ),
}


@pytest.mark.parametrize("process", sorted(PROCESSES))
async def test_every_transition_is_published_once_in_order(process: str, api: Api, tap: EventTap):
    drive, fields, expected = PROCESSES[process]
    p = _parties(api)
    opened = await api.open_delivery(
        p["marketplace"], p["customer"], p["isv"], process=process, **fields
    )
    await drive(api, opened["delivery_id"], p)
    events = await _events(tap, opened["delivery_id"], "delivery_completed")
    assert [r.body["event_type"] for r in events] == expected
    _assert_well_formed(events, process)
    completed = events[-1].body
    assert completed["to_state"] == "completed"
    assert completed["how"] == "confirmed_by_customer"
    assert completed["actor"] == {"id": p["customer"].sub, "role": "customer"}
    assert completed["order_id"] == opened["order_id"]


async def test_a_termination_says_by_whom_and_why(api: Api, tap: EventTap):
    p = _parties(api)
    terminated = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))["delivery_id"]
    reason = {"type": "terminate", "reason": "order refunded"}
    command_id = await _applied(api, terminated, p["admin"], reason)
    disputed = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))["delivery_id"]
    dispute = {"type": "open_dispute", "reason": "wrong product"}
    await _applied(api, disputed, p["customer"], dispute)
    resolution = {"type": "resolve_dispute", "outcome": "terminate", "note": "refund agreed"}
    await _applied(api, disputed, p["admin"], resolution)

    admin = {"id": p["admin"].sub, "role": "admin"}
    [opened, ended] = await _events(tap, terminated, "delivery_terminated")
    assert ended.routing_key == "delivery.basic.delivery_terminated"
    assert ended.body["terminated_by"] == admin
    assert ended.body["reason"] == "order refunded"
    assert ended.body["command_id"] == ended.properties.correlation_id == command_id
    events = await _events(tap, disputed, "delivery_terminated")
    assert [r.body["event_type"] for r in events] == [
        "delivery_opened",
        "dispute_opened",
        "delivery_terminated",
    ]
    assert events[1].body["reason"] == "wrong product"
    assert events[-1].body["terminated_by"] == admin
    assert events[-1].body["reason"] == "refund agreed"
    _assert_well_formed(events, "basic")


async def test_the_end_of_a_warranty_completes_a_delivery_by_itself(api: Api, tap: EventTap):
    p = _parties(api)
    opened = await api.open_delivery(
        p["marketplace"], p["customer"], p["isv"], process="double_check", warranty_period="PT2S"
    )
    await _basic(api, opened["delivery_id"], p)
    events = await _events(tap, opened["delivery_id"], "delivery_completed")
    completed = events[-1]
    assert completed.routing_key == "delivery.double_check.delivery_completed"
    assert completed.body["how"] == "warranty_ended"
    assert completed.body["actor"]["role"] == "system"
    assert completed.body["from_state"] == "in_warranty"
    _assert_well_formed(events, "double_check")


async def test_a_consumer_bound_to_completions_gets_only_completions(
    system: System, api: Api, tap: EventTap
):
    completions = EventTap(system.amqp_url, "delivery.*.delivery_completed")
    try:
        p = _parties(api)
        delivery_id = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))[
            "delivery_id"
        ]
        await _basic(api, delivery_id, p)
        await _events(tap, delivery_id, "delivery_completed")
        received = await completions.wait_for(lambda _: bool(completions.of(delivery_id)))
        assert {r.body["event_type"] for r in received} == {"delivery_completed"}
        assert [r.body["delivery_id"] for r in completions.of(delivery_id)] == [delivery_id]
    finally:
        completions.close()


async def test_a_refused_command_is_announced_as_command_rejected(system: System, api: Api):
    rejections = EventTap(system.amqp_url, "command.rejected")
    try:
        p = _parties(api)
        delivery_id = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))[
            "delivery_id"
        ]
        refused = await api.command(delivery_id, p["customer"], {"type": "confirm"})
        assert refused["status"] == "rejected"
        # Other tests' deliveries may have commands refused meanwhile: ours is announced once.
        await rejections.wait_for(lambda _: bool(rejections.of(delivery_id)))
        [announced] = rejections.of(delivery_id)
        assert announced.routing_key == "command.rejected"
        assert announced.body == {
            **announced.body,
            "event_type": "command.rejected",
            "command_id": refused["command_id"],
            "command": "confirm",
            "delivery_id": delivery_id,
            "actor": {"id": p["customer"].sub, "role": "customer"},
            "reason": refused["reason"],
            "message": refused["message"],
        }
        assert announced.properties.message_id == announced.body["event_id"]
        assert announced.properties.correlation_id == refused["command_id"]
    finally:
        rejections.close()


def _reply_queue(amqp_url: str) -> tuple[pika.BlockingConnection, str]:
    parameters = pika.URLParameters(amqp_url)
    parameters.heartbeat = 0
    connection = pika.BlockingConnection(parameters)
    return connection, connection.channel().queue_declare("", exclusive=True).method.queue


async def _replies(connection: pika.BlockingConnection, queue: str, count: int) -> list[Any]:
    channel, got = connection.channel(), []

    def arrived() -> bool:
        while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
            got.append((message[1], json.loads(message[2])))
        return len(got) >= count

    await until(arrived, f"{count} replies on {queue}")
    return got


async def test_a_bus_command_with_reply_to_gets_its_outcome(system: System, api: Api):
    p = _parties(api)
    delivery_id = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))[
        "delivery_id"
    ]
    connection, queue = _reply_queue(system.amqp_url)
    try:
        sent = {
            f"bus-{uuid.uuid4().hex}-{n}": c for n, c in enumerate([DEMAND, {"type": "confirm"}])
        }
        for command_id, command in sent.items():
            envelope = {
                "command_id": command_id,
                "delivery_id": delivery_id,
                "actor": {"id": p["customer"].sub, "role": "customer"},
                "issued_at": "2026-11-30T12:00:00+00:00",
                "command": command,
                "reply_to": queue,
            }
            publish_raw(system.amqp_url, COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, envelope)
        replies = await _replies(connection, queue, 2)
        by_type = {body["type"]: (properties, body) for properties, body in replies}
        for properties, body in replies:
            assert properties.correlation_id == body["command_id"]
            assert properties.content_type == "application/json"
            assert body["command_id"] in sent and body["delivery_id"] == delivery_id
        assert by_type["submit_demand"][1] == {
            **by_type["submit_demand"][1],
            "status": "applied",
            "reason": None,
            "message": None,
        }
        rejected = by_type["confirm"][1]
        assert rejected["status"] == "rejected" and rejected["reason"] and rejected["message"]
    finally:
        connection.close()


def _envelope(command_id: str, delivery_id: str, party: Party, command: dict, reply_to: str):
    return {
        "command_id": command_id,
        "delivery_id": delivery_id,
        "actor": {"id": party.sub, "role": party.role},
        "issued_at": "2026-11-30T12:00:00+00:00",
        "command": command,
        "reply_to": reply_to,
    }


async def _decided(api: Api, command_id: str, party: Party) -> dict[str, Any]:
    """The outcome of a command published on the bus (404 until the workflow decided it)."""
    outcome: dict[str, Any] = {}

    async def decided() -> bool:
        status, answer = await api.request("GET", f"/v1/commands/{command_id}", party)
        outcome.update(answer if status == 200 else {})
        return status == 200 and answer["status"] != "accepted"

    await until(decided, f"command {command_id} decided")
    return outcome


#: ``reply_to`` names RabbitMQ refuses to publish to: forged direct reply-to names (it closes
#: the connection with 541 INTERNAL_ERROR), the reported one first.
FORGED = [
    "amq.rabbitmq.reply-to.g1hkABFyYWJiaXRAbG9jYWxob3N0AAAAAQAAAAFn0fYq.abc",
    "amq.rabbitmq.reply-to.AAAA.x",
    "amq.rabbitmq.reply-to.abc.def",
]


async def test_a_reply_to_the_broker_refuses_is_dropped_not_retried(
    system: System, api: Api, tap: EventTap
):
    """Each command naming a forged reply queue is decided once and announced once, and the
    workflow's stream connection recovers: a command after them gets its reply."""
    p = _parties(api)
    delivery_id = (await api.open_delivery(p["marketplace"], p["customer"], p["isv"]))[
        "delivery_id"
    ]
    url, run = system.amqp_url, uuid.uuid4().hex
    # The session's system may hold other tests' dead letters: none of ours joins them.
    dead_before = queue_depths(url, f"{COMMANDS_QUEUE}.XQ")[0]
    # Applied, then refused (nothing to confirm yet), then refused again.
    commands = [(p["customer"], c) for c in (DEMAND, {"type": "confirm"}, {"type": "confirm"})]
    forged_ids = []
    for n, ((party, command), reply_to) in enumerate(zip(commands, FORGED, strict=True)):
        command_id = f"forged-{run}-{n}"
        publish_raw(
            url,
            COMMANDS_QUEUE,
            APPLY_COMMAND_ACTOR,
            _envelope(command_id, delivery_id, party, command, reply_to),
        )
        forged_ids.append(command_id)
        # One at a time: each reply is refused on the workflow's connection in turn.
        await _decided(api, command_id, party)
    connection, queue = _reply_queue(url)
    try:
        valid_id = f"valid-{run}"
        # A dispute opens no deadline: no reminder of this delivery can join its events
        # while the workflow is drained below (the session's system reminds 4 s after a finish).
        dispute = {"type": "open_dispute", "reason": "after the forged replies"}
        envelope = _envelope(valid_id, delivery_id, p["isv"], dispute, queue)
        publish_raw(url, COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, envelope)
        [(properties, reply)] = await _replies(connection, queue, 1)
        assert properties.correlation_id == valid_id
        assert reply["status"] == "applied", reply
    finally:
        connection.close()

    # Nothing more will come of the commands: the workflow is stopped with its queue and
    # delay queue empty (a retried command would wait in dc.commands.DQ), then restarted.
    await drain(system, "workflow", COMMANDS_QUEUE)
    assert queue_depths(url, f"{COMMANDS_QUEUE}.XQ")[0] == dead_before
    outcomes = [await _decided(api, c, p["customer"]) for c in forged_ids]
    assert [o["status"] for o in outcomes] == ["applied", "rejected", "rejected"], outcomes
    events = tap.drain()
    mine = [r.body for r in events if r.body["delivery_id"] == delivery_id]
    assert [b["event_type"] for b in mine if b["event_type"] != "delivery_opened"] == [
        "demand_submitted",
        "command.rejected",
        "command.rejected",
        "dispute_opened",
    ]
    rejected = [b["command_id"] for b in mine if b["event_type"] == "command.rejected"]
    assert rejected == forged_ids[1:]
