"""Email edges end to end: the addresses the API takes can be emailed, and an email in flight
when its sender dies is neither lost nor sent twice; a moot reminder is not sent.

The address rules run on the session system (default settings: ``DC_SMTP_UTF8`` off, the
default ``DC_EMAIL_SPECIAL_USE_DOMAINS``). The rest runs on a system of this module's own: a
staging-like one (SMTPUTF8 on, ``.test`` accepted) with a short sending lease and a short
confirmation window, where the notifier and the timer worker can be stopped and killed.
"""

from __future__ import annotations

import asyncio
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
from pymongo import MongoClient

from shared.contracts.queues import NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR
from shared.domain.engine import delivery_id_for, event_id_for
from tests.integration.bus import publish_raw
from tests.integration.client import Api, Party, open_body
from tests.integration.system import System, running_system
from tests.integration.waiting import drain, stop_drained, until, waiting_messages
from tooling.mailsink import MailSink

DEAD_LETTERS = f"{NOTIFICATIONS_QUEUE}.XQ"
#: DC_SMTP_SENDING_LEASE of this module's own system: short, so a takeover is seen soon.
LEASE = 8
STAGING = {
    "DC_SMTP_UTF8": "true",
    "DC_EMAIL_SPECIAL_USE_DOMAINS": "localhost,example,example.com,test",
    "DC_SMTP_SENDING_LEASE": str(LEASE),
    # Half the test systems' window: a test waits for both deadlines to fall due while the
    # timer worker is down. Only that test lets a delivery here reach its window.
    "DC_CONFIRM_WINDOW": "4",
    "DC_REMINDER_LEAD": "2",
}


def _to(address: str, event_type: str, delivery_id: str):
    return lambda m: (
        m["X-Delivery-Id"] == delivery_id and m["X-Event-Type"] == event_type and m["To"] == address
    )


async def _open(api: Api, parties: dict[str, Party], **fields: Any) -> tuple[int, Any]:
    body = open_body(parties["customer"], parties["isv"], **fields)
    marketplace = parties["marketplace"]
    return await api.request("POST", "/v1/deliveries", marketplace, json=body)


def _fields(answer: dict) -> dict[str, str]:
    return {f["field"]: f["message"] for f in answer.get("fields", [])}


# --- on the session system: the default rule -------------------------------------------------


async def test_an_idn_address_gets_its_email_with_the_ascii_domain(api: Api, parties, mail):
    sub = parties["customer"].sub
    kept, ascii_form = f"{sub}@bücher.example", f"{sub}@xn--bcher-kva.example"
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], customer_email=kept.upper()
    )
    delivery = await api.delivery(opened["delivery_id"], parties["customer"])
    assert delivery["customer_email"] == kept  # kept as given, normalised
    [message] = await mail.wait_for_async(_to(ascii_form, "delivery_opened", opened["delivery_id"]))
    taken = mail.envelope_of(message)
    assert taken.rcpt_tos == (ascii_form,) and not taken.smtputf8
    assert str(message["To"]).isascii()


@pytest.mark.parametrize("local", ["üser", "zoë.ünal", "用户"])
async def test_a_local_part_beyond_ascii_is_refused_at_the_door(api: Api, parties, local):
    status, answer = await _open(api, parties, customer_email=f"{local}@example.com")
    assert status == 422, answer
    assert "DC_SMTP_UTF8 is off" in _fields(answer)["customer_email"], answer
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    contact = {"name": "Zoë", "phone": "+1 555 0100", "email": f"{local}@example.com"}
    status, answer = await api.send(
        opened["delivery_id"],
        parties["customer"],
        {"type": "submit_demand", "contact": contact, "demands": "A shop"},
    )
    assert status == 422 and "DC_SMTP_UTF8" in _fields(answer)["contact.email"], answer


@pytest.mark.parametrize(
    ("field", "address", "accepted"),
    [
        ("isv_email", "sales@shop.test", False),
        ("isv_email", "ops@corp.internal", False),
        ("customer_email", "ann@printer.local", False),
        ("customer_email", "ann@nowhere.invalid", False),
        ("customer_email", "ann@mailhost", False),
        ("customer_email", "ann@[127.0.0.1]", False),
        ("customer_email", '"ann smith"@example.com', False),
        ("isv_email", "admin@localhost", True),  # like the default DC_ADMIN_EMAIL
        ("isv_email", "sales@isv.example", True),
    ],
)
async def test_special_use_domains_follow_the_documented_rule(
    api: Api, parties, field, address, accepted
):
    status, answer = await _open(api, parties, **{field: address})
    if accepted:
        assert status == 202, answer
    else:
        assert status == 422 and set(_fields(answer)) == {field}, answer
        assert "valid email address" in _fields(answer)[field]


@pytest.mark.parametrize(
    "address",
    [
        # Issue 15: each was taken (202), then the notifier could not write it.
        "=?utf-8?q?ann?=@example.com",
        "=?utf-8?b?YQ==?=@example.com",
        "=?utf-8?q?a?=.b@example.com",
        "=?x?q?a?=@example.com",
        "=?iso-8859-1?q?=e9?=@example.com",
    ],
)
async def test_an_address_a_header_would_decode_is_refused_at_the_door(api: Api, parties, address):
    status, answer = await _open(api, parties, customer_email=address)
    assert status == 422, answer
    assert "RFC 2047 encoded word" in _fields(answer)["customer_email"], answer


@pytest.mark.parametrize(
    ("address", "kept", "why"),
    [
        # Issue 15: special-use names written full-width or with ideographic dots.
        ("ann@ＬＯＣＡＬＨＯＳＴ", "ann@localhost", None),
        ("ann@shop．test", None, "DC_EMAIL_SPECIAL_USE_DOMAINS"),
        ("ann@shop。test", None, "DC_EMAIL_SPECIAL_USE_DOMAINS"),
        ("ann@corp｡ＩＮＴＥＲＮＡＬ", None, "DC_EMAIL_SPECIAL_USE_DOMAINS"),
    ],
)
async def test_special_use_names_are_found_in_any_written_form(
    api: Api, parties, address, kept, why
):
    if kept:
        opened = await api.open_delivery(
            parties["marketplace"], parties["customer"], parties["isv"], customer_email=address
        )
        delivery = await api.delivery(opened["delivery_id"], parties["customer"])
        assert delivery["customer_email"] == kept
    else:
        status, answer = await _open(api, parties, customer_email=address)
        assert status == 422 and why in _fields(answer)["customer_email"], answer


def _publish(amqp_url: str, event: dict[str, Any]) -> None:
    """An event on the notifications queue, as the workflow's relay publishes it."""
    publish_raw(amqp_url, NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR, event)


def _reminder(customer: Party, isv: Party, confirmed_at: datetime) -> dict[str, Any]:
    """A ``confirmation_reminder`` event whose automatic confirmation is due ``confirmed_at``."""
    delivery_id = uuid.uuid4().hex
    return {
        "event_id": uuid.uuid4().hex,
        "type": "confirmation_reminder",
        "delivery_id": delivery_id,
        "command_id": f"expire:{delivery_id}:3:reminder",
        "command": "expire_deadline",
        "actor": {"id": "timer", "role": "system"},
        "occurred_at": datetime.now(UTC).isoformat(),
        "from_state": "awaiting_confirmation",
        "to_state": "awaiting_confirmation",
        "delivery": {
            "delivery_id": delivery_id,
            "order_id": f"order-{delivery_id[:8]}",
            "product_id": "prod-website",
            "process": "basic",
            "state": "awaiting_confirmation",
            "version": 4,
            "customer_id": customer.sub,
            "customer_email": f"{customer.sub}@customer.example.com",
            "isv_id": isv.sub,
            "isv_email": f"{isv.sub}@isv.example.com",
            "deadlines": [
                {
                    "deadline_id": f"{delivery_id}:3:confirmation_window",
                    "kind": "confirmation_window",
                    "status": "active",
                    "due_at": confirmed_at.isoformat(),
                }
            ],
        },
    }


async def test_a_reminder_due_after_its_confirmation_is_not_sent(system: System, parties, mail):
    customer, isv = parties["customer"], parties["isv"]
    now = datetime.now(UTC)
    late = _reminder(customer, isv, confirmed_at=now - timedelta(seconds=1))
    in_time = _reminder(customer, isv, confirmed_at=now + timedelta(days=2))
    for event in (late, in_time):
        await asyncio.to_thread(_publish, system.amqp_url, event)
    await mail.wait_for_async(lambda m: m["X-Delivery-Id"] == in_time["delivery_id"])
    # Both handled: the notifier stops with its queues empty (and starts again).
    await drain(system, "notifier", NOTIFICATIONS_QUEUE)
    assert not [m for m in list(mail.messages) if m["X-Delivery-Id"] == late["delivery_id"]]


# --- on a staging-like system of its own: SMTPUTF8, .test, a short lease -------------------


@pytest.fixture(scope="module")
def staging(mail: MailSink) -> Iterator[System]:
    with running_system(mail.port, "email-edges", **STAGING) as system:
        yield system


@pytest.fixture
async def staging_api(staging: System) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, staging.base_url, staging.jwt_secret)


@pytest.fixture
def staging_parties(staging_api: Api) -> dict[str, Party]:
    return {role: staging_api.party(role) for role in ("marketplace", "customer", "isv")}


@pytest.fixture
def staging_db(staging: System):
    with MongoClient(staging.env["DC_MONGO_URL"], tz_aware=True) as client:
        yield client[staging.env["DC_MONGO_DB"]]


async def test_with_smtputf8_on_a_local_part_beyond_ascii_is_delivered_with_it(
    staging_api: Api, staging_parties, mail
):
    p = staging_parties
    kept = f"zoë.{p['customer'].sub}@bücher.example"
    sent_as = f"zoë.{p['customer'].sub}@xn--bcher-kva.example"
    opened = await staging_api.open_delivery(
        p["marketplace"], p["customer"], p["isv"], customer_email=kept, isv_email="isv@shop.test"
    )
    [message] = await mail.wait_for_async(_to(sent_as, "delivery_opened", opened["delivery_id"]))
    taken = mail.envelope_of(message)
    assert taken.rcpt_tos == (sent_as,) and taken.smtputf8
    # The staging list takes .test; that email needs no SMTPUTF8 and is sent without it.
    [other] = await mail.wait_for_async(
        _to("isv@shop.test", "delivery_opened", opened["delivery_id"])
    )
    assert not mail.envelope_of(other).smtputf8


def _emails_to(mail: MailSink, address: str, delivery_id: str) -> list[EmailMessage]:
    return [
        m for m in list(mail.messages) if m["To"] == address and m["X-Delivery-Id"] == delivery_id
    ]


def _notifier_metric(system: System, line_start: str) -> float:
    """The running notifier's Prometheus sample whose line starts so (0 if absent)."""
    port = system.env["DC_NOTIFIER_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(line_start))


def _no_retry_spent_waiting(system: System) -> None:
    """This notifier waited out a claim, and spent no retry on anything."""
    assert _notifier_metric(system, "dc_email_claim_waits_total") >= 1
    assert (
        _notifier_metric(system, 'dc_messages_total{actor="send_notifications",outcome="retried"')
        == 0
    )


async def _exactly_once_and_nothing_dead(
    staging: System, db, mail: MailSink, address: str, delivery_id: str
) -> None:
    """Once the notifier has nothing left: one email to ``address``, no dead letter."""
    await stop_drained(staging, "notifier", NOTIFICATIONS_QUEUE)
    try:
        assert len(_emails_to(mail, address, delivery_id)) == 1
        assert await asyncio.to_thread(waiting_messages, staging.amqp_url, DEAD_LETTERS) == 0
        assert db.dead_letters.count_documents({}) == 0
    finally:
        await asyncio.to_thread(staging.restart, "notifier")


async def test_an_email_claimed_by_a_sender_that_died_goes_out_once_after_the_lease(
    staging: System, staging_api: Api, staging_parties, staging_db, mail
):
    """A claim planted as a dead sender leaves it: fresh, with no outcome. The notifier waits
    for the lease to run out without spending its retries, takes the email over, sends it."""
    p = staging_parties
    address = f"{p['customer'].sub}@customer.example.com"
    order_id = f"order-{uuid.uuid4().hex[:12]}"
    delivery_id = delivery_id_for(order_id)
    key = f"{event_id_for(f'open:{delivery_id}')}:{address}"
    claimed_at = datetime.now(UTC)
    staging_db.emails.insert_one({"_id": f"{key}#1", "status": "sending", "claimed_at": claimed_at})
    await staging_api.open_delivery(p["marketplace"], p["customer"], p["isv"], order_id=order_id)
    [message] = await mail.wait_for_async(_to(address, "delivery_opened", delivery_id))
    waited = datetime.now(UTC) - claimed_at
    assert waited >= timedelta(seconds=LEASE)  # not before the dead sender's lease ran out
    assert staging_db.emails.find_one({"_id": f"{key}#2"})["status"] == "sending"
    # The notifier records the email once the server has taken it: the sink may be first.
    await until(
        lambda: staging_db.emails_sent.find_one({"_id": key}) is not None, "the email recorded"
    )
    assert staging_db.emails_sent.find_one({"_id": key})["attempt"] == 2
    print(f"\nplanted claim: email out {waited.total_seconds():.1f} s after it (lease {LEASE} s)")
    _no_retry_spent_waiting(staging)
    await _exactly_once_and_nothing_dead(staging, staging_db, mail, address, delivery_id)


async def test_killing_the_notifier_after_it_claimed_an_email_loses_and_duplicates_nothing(
    staging: System, staging_api: Api, staging_parties, staging_db, mail
):
    """The issue's crash: the notifier dies mid-send (SIGKILL, its SMTP conversation held at
    RCPT TO) and is back within a second. The email goes out once, after the lease."""
    p = staging_parties
    address = f"{p['customer'].sub}@customer.example.com"
    held = mail.hold(lambda to: to == address)
    try:
        opened = await staging_api.open_delivery(p["marketplace"], p["customer"], p["isv"])
        delivery_id = opened["delivery_id"]
        await asyncio.to_thread(held.reached.wait, 90)
        assert held.reached.is_set(), "the notifier never got to RCPT TO"
        key = f"{event_id_for(opened['command_id'])}:{address}"
        assert staging_db.emails.find_one({"_id": f"{key}#1"})["status"] == "sending"
        killed_at = datetime.now(UTC)
        await asyncio.to_thread(staging.services["notifier"].kill)
    finally:
        held.release()
    await asyncio.to_thread(staging.restart, "notifier")
    await mail.wait_for_async(_to(address, "delivery_opened", delivery_id))
    waited = datetime.now(UTC) - killed_at
    print(f"\nnotifier killed mid-send: email out {waited.total_seconds():.1f} s later")
    await until(
        lambda: staging_db.emails_sent.find_one({"_id": key}) is not None, "the email recorded"
    )
    assert staging_db.emails_sent.find_one({"_id": key})["attempt"] == 2
    assert staging_db.emails.find_one({"_id": f"{key}#1.failed"}) is None  # it died, silent
    _no_retry_spent_waiting(staging)  # the restarted notifier
    await _exactly_once_and_nothing_dead(staging, staging_db, mail, address, delivery_id)


async def test_a_reminder_fired_after_a_timer_outage_is_not_sent(
    staging: System, staging_api: Api, staging_parties, mail
):
    """Both deadlines fall due while the timer worker is down; back, it fires both. The
    reminder, applied first or refused as no longer active, sends no email either way."""
    p = staging_parties
    contact = {"name": "Ann", "phone": "+1 555 0100", "email": "ann@shop.test"}
    opened = await staging_api.open_delivery(p["marketplace"], p["customer"], p["isv"])
    delivery_id = opened["delivery_id"]
    demand = {"type": "submit_demand", "contact": contact, "demands": "A shop"}
    assert (await staging_api.command(delivery_id, p["customer"], demand))["status"] == "applied"
    await asyncio.to_thread(staging.services["timers"].stop)
    try:
        finished = await staging_api.command(delivery_id, p["isv"], {"type": "finish"})
        assert finished["status"] == "applied"
        delivery = await staging_api.delivery(delivery_id, p["customer"])
        last_due = max(datetime.fromisoformat(d["due_at"]) for d in delivery["deadlines"])
        await until(lambda: datetime.now(UTC) > last_due, "both deadlines due", timeout=60)
    finally:
        await asyncio.to_thread(staging.restart, "timers")
    delivery = await staging_api.wait_for_state(delivery_id, p["customer"], "completed")
    await mail.wait_for_async(_to(opened["customer_email"], "auto_confirmed", delivery_id))
    await stop_drained(staging, "notifier", NOTIFICATIONS_QUEUE)
    await asyncio.to_thread(staging.restart, "notifier")
    reminders = [
        m
        for m in list(mail.messages)
        if m["X-Delivery-Id"] == delivery_id and m["X-Event-Type"] == "confirmation_reminder"
    ]
    applied = [
        h
        for h in delivery["history"]
        if h["from_state"] == h["to_state"] == "awaiting_confirmation"
    ]
    print(f"\ntimer outage: reminder applied {len(applied)}x, emailed {len(reminders)}x")
    assert reminders == []
