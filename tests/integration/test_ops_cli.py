"""The operators' command line against a real system: reports, dead letters, requeue, purge."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pika
import pytest

from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from tests.integration.bus import dramatiq_message, publish_json
from tests.integration.client import Api
from tests.integration.system import System
from tests.integration.waiting import PATIENCE, until
from tests.unit.notification_events import EVENTS

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}


def cli(system: System, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**system.env, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "services", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )


def _publish(system: System, queue: str, body: dict) -> None:
    publish_json(system.amqp_url, queue, body)


def _message(payload: dict) -> dict:
    return dramatiq_message(COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, payload)


async def test_delivery_show_and_list_report_a_delivery(api: Api, parties, system: System):
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    delivery_id = opened["delivery_id"]
    shown = cli(system, "delivery", "show", delivery_id)
    assert shown.returncode == 0, shown.stderr
    assert "awaiting_demand" in shown.stdout and "open_delivery" in shown.stdout
    listed = cli(system, "deliveries", "list", "--state", "awaiting_demand", "--limit", "500")
    assert listed.returncode == 0 and delivery_id in listed.stdout
    missing = cli(system, "delivery", "show", "0" * 32)
    assert missing.returncode == 1 and "no delivery" in missing.stderr
    wrong = cli(system, "deliveries", "list", "--state", "sleeping")
    assert wrong.returncode == 1 and "awaiting_demand" in wrong.stderr


@pytest.mark.parametrize(
    "reason",
    [
        "Payment [/b] missing",  # rich markup that does not balance: a crash before
        "[bold red on white]ISV has been paid[/] [link=http://evil.example]details[/link]",
        "\x1b[2J\x1b[Hfake: all good\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07",
        "a\x00b\x01c\x1b[31mred\x7fdel\x9bcsi \u202eevil\u202c",
    ],
)
async def test_delivery_show_prints_what_a_party_wrote_as_text(
    api: Api, parties, system: System, reason: str
):
    """A dispute's reason is shown as written, never read as markup, with every control
    character escaped: a party cannot crash, restyle or rewrite the operator's terminal."""
    customer = parties["customer"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, parties["isv"]))[
        "delivery_id"
    ]
    outcome = await api.command(delivery_id, customer, {"type": "open_dispute", "reason": reason})
    assert outcome["status"] == "applied", outcome
    shown = cli(system, "delivery", "show", delivery_id)
    assert shown.returncode == 0, shown.stderr
    assert all(ch.isprintable() or ch in " \n" for ch in shown.stdout), repr(shown.stdout)
    written = "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode()
        for ch in reason
    )
    assert written in shown.stdout.replace("\n", ""), shown.stdout


async def test_deadlines_due_and_stats(api: Api, parties, system: System):
    customer, isv = parties["customer"], parties["isv"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, isv))["delivery_id"]
    await api.command(
        delivery_id, customer, {"type": "submit_demand", "contact": CONTACT, "demands": "x"}
    )
    await api.command(delivery_id, isv, {"type": "finish"})
    due = cli(system, "deadlines", "due", "--within", "60")
    assert due.returncode == 0, due.stderr
    assert delivery_id in due.stdout and "confirmation_window" in due.stdout
    figures = cli(system, "stats")
    assert figures.returncode == 0, figures.stderr
    assert "awaiting_confirmation" in figures.stdout and "in_delivery" in figures.stdout


async def test_a_dead_letter_is_listed_with_its_error_then_requeued_and_processed(
    api: Api, parties, system: System
):
    customer = parties["customer"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, parties["isv"]))[
        "delivery_id"
    ]

    # A poison message: the workflow cannot read it, so it is dead-lettered at once.
    poison = _message({"command_id": "broken", "delivery_id": delivery_id})
    _publish(system, COMMANDS_QUEUE, poison)
    # A good command that died earlier (put straight into the dead-letter queue).
    good = _message(
        {
            "command_id": f"requeued-{uuid.uuid4().hex}",
            "delivery_id": delivery_id,
            "actor": {"id": customer.sub, "role": "customer"},
            "issued_at": "2026-11-25T10:00:00Z",
            "command": {"type": "submit_demand", "contact": CONTACT, "demands": "x"},
        }
    )
    _publish(system, f"{COMMANDS_QUEUE}.XQ", good)

    def dead_lettered() -> bool:
        return poison["message_id"] in cli(system, "dlq", "list").stdout

    await until(dead_lettered, "the poison message is dead-lettered")
    listed = cli(system, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert poison["message_id"] in listed.stdout and good["message_id"] in listed.stdout
    assert "PoisonMessage" in listed.stdout

    requeued = cli(system, "dlq", "requeue", good["message_id"])
    assert requeued.returncode == 0, requeued.stderr
    assert "requeued 1" in requeued.stdout
    await api.wait_for_state(delivery_id, customer, "in_delivery")

    after = cli(system, "dlq", "list")
    assert poison["message_id"] in after.stdout and good["message_id"] not in after.stdout
    assert cli(system, "dlq", "requeue").returncode == 1
    purged = cli(system, "dlq", "purge", "--yes")
    assert purged.returncode == 0 and "purged" in purged.stdout
    assert poison["message_id"] not in cli(system, "dlq", "list").stdout


def _publish_bytes(system: System, queue: str, body: bytes) -> None:
    """``body`` as it is (not JSON, perhaps not UTF-8) onto ``queue``, confirmed by RabbitMQ."""
    connection = pika.BlockingConnection(pika.URLParameters(system.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    finally:
        connection.close()


async def test_the_listing_shows_every_shape_a_dead_letter_queue_can_hold(system: System):
    """Issue 15: a dead notification (its event's ``command`` is a string) crashed the list.
    Every shape that can land in a ``*.XQ`` queue is listed: commands, notification events,
    dramatiq messages with odd fields, JSON that is no message, bytes that are not JSON."""
    [(_, event)] = [(name, e) for name, e in EVENTS if name == "basic:in_delivery:finish"]
    notification = dramatiq_message(
        NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR, event.model_dump(mode="json")
    )
    assert isinstance(notification["args"][0]["command"], str)
    tag = uuid.uuid4().hex[:8]
    odd_messages = [
        {**_message({"delivery_id": f"odd-{tag}", "command": 5}), "options": "x"},
        {**_message({"command": ["open_delivery"]}), "args": "not a list"},
        {**_message({}), "args": [1, 2]},
        {**_message({}), "args": [], "options": {"retries": "many"}},
        {**_message({"type": "[/bold] not markup [red]"}), "actor_name": ["apply"]},
        {**_message({"command": None}), "message_id": 7},
    ]
    for body in (notification, *odd_messages):
        _publish(system, f"{body['queue_name']}.XQ", body)
    not_messages = [
        json.dumps(["a", "list"]).encode(),
        json.dumps(f"a string {tag}").encode(),
        b"42",
        b"null",
        f"plain text {tag} [/red]".encode(),
        b"\xff\xfe" + tag.encode() + b" not UTF-8",
        b"",
    ]
    for raw in not_messages:
        _publish_bytes(system, f"{NOTIFICATIONS_QUEUE}.XQ", raw)

    def all_listed() -> bool:
        listed = cli(system, "dlq", "list")
        assert listed.returncode == 0, listed.stderr
        return notification["message_id"] in listed.stdout and f"{tag} not UTF-8" in listed.stdout

    await until(all_listed, "every dead letter is listed")
    listed = cli(system, "dlq", "list")
    assert "Traceback" not in listed.stderr
    out = " ".join(listed.stdout.split())
    assert f"send_notifications {event.type} delivery {event.delivery_id}" in out
    for body in odd_messages[:4]:
        assert body["message_id"] in out
    assert f"delivery odd-{tag}" in out
    assert "[/bold] not markup [red]" in out  # shown as written, not taken for markup
    assert f'not a dramatiq message: "a string {tag}"' in out
    assert f"plain text {tag} [/red]" in out
    assert out.count("not a dramatiq message") >= len(not_messages)

    # A body that is no message has no queue to go back to: requeueing leaves it for purge.
    # (By their shared id "?": only the id-less ones, so the hand-made event is not emailed.)
    requeued = cli(system, "dlq", "requeue", "?")
    assert requeued.returncode == 0, requeued.stderr
    assert "dead letters are not dramatiq messages: left for purge" in requeued.stderr
    assert "requeued " in requeued.stdout  # the one whose message_id is 7, at least
    assert f"{tag} not UTF-8" in cli(system, "dlq", "list").stdout
    purged = cli(system, "dlq", "purge", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert f"{tag} not UTF-8" not in cli(system, "dlq", "list").stdout
