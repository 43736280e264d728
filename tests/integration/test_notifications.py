"""Emails end to end: the right parties for every transition, once, through real SMTP servers.

The processes run on the session system (its SMTP sink is the ``mail`` fixture); the SMTP
faults on a system of their own, pointed at a scripted aiosmtpd server.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import ssl
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import pika
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pymongo import MongoClient

from services.notifier.headers import message_id
from services.notifier.rules import audience, recipients
from services.notifier.sending import Notifier
from shared.config import Settings
from shared.contracts.queues import NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR
from shared.domain.engine import event_id_for
from shared.domain.events import EVENT_TYPE_OF_COMMAND
from shared.domain.processes import PROCESSES
from shared.domain.roles import Role
from shared.domain.states import ProcessName, State
from tests.integration.bus import publish_raw
from tests.integration.client import STEPWISE_STEPS, Api, Party
from tests.integration.system import System, free_port, running_system
from tests.integration.waiting import PATIENCE, drain, until
from tests.unit.notification_events import EVENTS
from tests.unit.ooxml_builder import docx as docx_package
from tooling.mailsink import MailSink

ADMIN_EMAIL = "admin@example.com"  # DC_ADMIN_EMAIL of the test systems
CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "A shop with a cart"}
DEAD_LETTERS = f"{NOTIFICATIONS_QUEUE}.XQ"

Script = Callable[[Api, dict[str, Party], dict[str, Any]], Awaitable[None]]


async def _applied(api: Api, delivery_id: str, party: Party, body: dict) -> None:
    outcome = await api.command(delivery_id, party, body)
    assert outcome["status"] == "applied", outcome


async def _steps(api: Api, parties: dict[str, Party], delivery_id: str, steps: list) -> None:
    for role, body in steps:
        await _applied(api, delivery_id, parties[role], body)


async def basic_with_a_dispute(api: Api, parties: dict[str, Party], opened: dict) -> None:
    await _steps(
        api,
        parties,
        opened["delivery_id"],
        [
            ("customer", DEMAND),
            ("isv", {"type": "finish", "note": "Site is live"}),
            ("isv", {"type": "open_dispute", "reason": "customer unreachable"}),
            ("admin", {"type": "resolve_dispute", "outcome": "continue", "note": "reached"}),
            ("customer", {"type": "request_changes", "reason": "typo on the home page"}),
            ("isv", {"type": "finish", "note": "typo fixed"}),
            ("customer", {"type": "confirm"}),
        ],
    )


async def double_check(api: Api, parties: dict[str, Party], opened: dict) -> None:
    await _steps(
        api,
        parties,
        opened["delivery_id"],
        [
            ("customer", DEMAND),
            ("isv", {"type": "finish"}),
            ("customer", {"type": "confirm"}),
            ("customer", {"type": "request_warranty_service", "description": "Cart broken"}),
            ("customer", {"type": "confirm_warranty"}),
        ],
    )


async def contract(api: Api, parties: dict[str, Party], opened: dict) -> None:
    delivery_id = opened["delivery_id"]
    await _applied(api, delivery_id, parties["customer"], DEMAND)
    form = aiohttp.FormData()
    form.add_field("file", docx_package(), filename="contract.docx")
    status, file = await api.request(
        "POST", f"/v1/deliveries/{delivery_id}/attachments", parties["isv"], data=form
    )
    assert status == 201, file
    await _steps(
        api,
        parties,
        delivery_id,
        [
            ("isv", {"type": "upload_contract", "attachment": file["attachment_id"]}),
            ("isv", {"type": "finish"}),
            ("customer", {"type": "confirm"}),
        ],
    )


async def stepwise(api: Api, parties: dict[str, Party], opened: dict) -> None:
    await _steps(
        api,
        parties,
        opened["delivery_id"],
        STEPWISE_STEPS,
    )


async def terminated_by_dispute(api: Api, parties: dict[str, Party], opened: dict) -> None:
    await _steps(
        api,
        parties,
        opened["delivery_id"],
        [
            ("customer", DEMAND),
            ("customer", {"type": "open_dispute", "reason": "no contract after a week"}),
            ("admin", {"type": "resolve_dispute", "outcome": "terminate", "note": "refund"}),
        ],
    )


async def terminated(api: Api, parties: dict[str, Party], opened: dict) -> None:
    await _steps(
        api, parties, opened["delivery_id"], [("admin", {"type": "terminate", "reason": "refund"})]
    )


RUNS: list[tuple[ProcessName, Script, State]] = [
    (ProcessName.BASIC, basic_with_a_dispute, State.COMPLETED),
    (ProcessName.DOUBLE_CHECK, double_check, State.COMPLETED),
    (ProcessName.CONTRACT, contract, State.COMPLETED),
    (ProcessName.STEPWISE, stepwise, State.COMPLETED),
    (ProcessName.CONTRACT, terminated_by_dispute, State.TERMINATED),
    (ProcessName.BASIC, terminated, State.TERMINATED),
]


def _event_type(entry: dict[str, Any]) -> str:
    """The event an applied command (a history entry) produced."""
    if entry["command"] != "expire_deadline":
        return EVENT_TYPE_OF_COMMAND[entry["command"]]
    if entry["from_state"] == entry["to_state"]:
        return "confirmation_reminder"
    return "warranty_expired" if entry["from_state"] == "in_warranty" else "auto_confirmed"


def expected_emails(delivery: dict[str, Any], opened: dict[str, Any]) -> Counter:
    """(event type, To, asked to act) for each email the rules predict from the history."""
    address = {
        Role.CUSTOMER: opened["customer_email"],
        Role.ISV: opened["isv_email"],
        Role.ADMIN: ADMIN_EMAIL,
    }
    process = PROCESSES[ProcessName(delivery["process"])]
    expected: Counter = Counter()
    for entry in delivery["history"]:
        event_type = _event_type(entry)
        for role, action in audience(event_type, process, State(entry["to_state"])):
            expected[(event_type, address[role], action is not None)] += 1
    return expected


def _received(mail: MailSink, delivery_id: str) -> list[EmailMessage]:
    return [m for m in list(mail.messages) if m["X-Delivery-Id"] == delivery_id]


@pytest.mark.parametrize(
    ("process", "script", "end"), RUNS, ids=[f"{p}-{s.__name__}" for p, s, _ in RUNS]
)
async def test_each_process_emails_whom_the_rules_say_and_nobody_else(
    api: Api,
    parties,
    mail: MailSink,
    system: System,
    process: ProcessName,
    script: Script,
    end: State,
):
    extra = {"warranty_period": "P30D"} if process == ProcessName.DOUBLE_CHECK else {}
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], process=process, **extra
    )
    delivery_id = opened["delivery_id"]
    await script(api, parties, opened)
    delivery = await api.delivery(delivery_id, parties["customer"])
    assert delivery["state"] == end

    expected = expected_emails(delivery, opened)
    await mail.wait_for_async(
        lambda m: m["X-Delivery-Id"] == delivery_id, count=sum(expected.values())
    )
    # An email too many would come late: until the notifier has handled all it was given.
    await drain(system, "notifier", NOTIFICATIONS_QUEUE)
    received = _received(mail, delivery_id)
    got = Counter((m["X-Event-Type"], m["To"], "Action needed" in m["Subject"]) for m in received)
    assert got == expected
    # Once each: a distinct Message-ID per (event, recipient).
    assert len({m["Message-ID"] for m in received}) == len(received)
    for message in received:
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert delivery_id in message["Subject"]
        for part in (text, html):
            assert delivery_id in part and opened["order_id"] in part
            assert f"/d/{delivery_id}?t=" in part  # the reader's own signed link
        assert ("What to do next:" in text) == ("Action needed" in message["Subject"])


def _publish_event(amqp_url: str, payload: dict[str, Any]) -> None:
    """Publish an event onto dc.notifications as the workflow's relay would (raw JSON)."""
    publish_raw(amqp_url, NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR, payload)


def _opened_event(opened: dict[str, Any], marketplace: Party, event_id: str) -> dict[str, Any]:
    """The ``delivery_opened`` event of ``opened``, as the workflow published it."""
    return {
        "event_id": event_id,
        "type": "delivery_opened",
        "delivery_id": opened["delivery_id"],
        "command_id": opened["command_id"],
        "command": "open_delivery",
        "actor": {"id": marketplace.sub, "role": "marketplace"},
        "occurred_at": "2026-01-05T09:00:00Z",
        "from_state": None,
        "to_state": "awaiting_demand",
        "delivery": {
            "delivery_id": opened["delivery_id"],
            "order_id": opened["order_id"],
            "product_id": opened["product_id"],
            "process": opened["process"],
            "state": "awaiting_demand",
            "version": 1,
            "customer_id": opened["customer_id"],
            "customer_email": opened["customer_email"],
            "isv_id": opened["isv_id"],
            "isv_email": opened["isv_email"],
        },
    }


async def test_a_redelivered_event_sends_nothing_new(
    api: Api, parties, mail: MailSink, system: System, db
):
    marketplace = parties["marketplace"]
    opened = await api.open_delivery(marketplace, parties["customer"], parties["isv"])
    delivery_id = opened["delivery_id"]
    originals = await mail.wait_for_async(lambda m: m["X-Delivery-Id"] == delivery_id, count=2)
    event_id = event_id_for(opened["command_id"])
    assert {m["Message-ID"] for m in originals} == {
        message_id(event_id, opened["customer_email"]),
        message_id(event_id, opened["isv_email"]),
    }

    for _ in range(2):
        await asyncio.to_thread(
            _publish_event, system.amqp_url, _opened_event(opened, marketplace, event_id)
        )
    await drain(system, "notifier", NOTIFICATIONS_QUEUE)
    again = _received(mail, delivery_id)
    assert sorted(m["Message-ID"] for m in again) == sorted(m["Message-ID"] for m in originals)
    # Not even a new attempt was claimed: the sent records stopped the copies.
    claims = list(db.emails.find({"event_id": event_id}))
    assert sorted(c["_id"].rsplit("#", 1)[1] for c in claims) == ["1", "1"]


# --- SMTP faults, on a system of their own -------------------------------------------------


class ScriptedSmtp:
    """An SMTP server that refuses some addresses for good at RCPT (5xx) and answers each
    address's first DATA commands from a script (4xx), accepting everything else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.refused: dict[str, str] = {}
        self.data_script: dict[str, list[str]] = {}
        #: (address, answer) for every DATA command, in order.
        self.answers: list[tuple[str, str]] = []
        self.accepted: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        [address] = envelope.rcpt_tos
        with self.lock:
            planned = self.data_script.get(address)
            answer = planned.pop(0) if planned else "250 Message accepted for delivery"
            self.answers.append((address, answer))
            if answer.startswith("250"):
                raw = envelope.original_content or envelope.content
                message = email.message_from_bytes(raw, policy=email.policy.default)
                self.accepted.append(message)
        return answer

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.accepted if m["To"] == address]

    async def wait(self, check: Callable[[], bool], timeout: float = PATIENCE) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"not within {timeout} s; SMTP answers: {self.answers}")
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def smtp() -> Iterator[ScriptedSmtp]:
    handler = ScriptedSmtp()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def faulty_system(smtp: ScriptedSmtp) -> Iterator[System]:
    with running_system(smtp.port, "notifications_smtp_faults") as system:
        yield system


@pytest.fixture
async def faulty_api(faulty_system: System) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, faulty_system.base_url, faulty_system.jwt_secret)


def _dead_letters(system: System) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(system.amqp_url))
    try:
        return connection.channel().queue_declare(DEAD_LETTERS, passive=True).method.message_count
    finally:
        connection.close()


def _peek_dead_letters(system: System) -> list[dict[str, Any]]:
    """The events in the dead-letter queue, left there (fetched unacknowledged)."""
    connection = pika.BlockingConnection(pika.URLParameters(system.amqp_url))
    events = []
    try:
        channel = connection.channel()
        while (got := channel.basic_get(DEAD_LETTERS, auto_ack=False))[0] is not None:
            events.append(json.loads(got[2])["args"][0])
    finally:
        connection.close()  # unacknowledged: back into the queue
    return events


def _emails_records(system: System, delivery_id: str) -> list[dict[str, Any]]:
    with MongoClient(system.env["DC_MONGO_URL"]) as client:
        db = client[system.env["DC_MONGO_DB"]]
        return list(db.emails.find({"delivery_id": delivery_id}))


def _sent_records(system: System, keys: list[str]) -> list[dict[str, Any]]:
    with MongoClient(system.env["DC_MONGO_URL"]) as client:
        db = client[system.env["DC_MONGO_DB"]]
        return list(db.emails_sent.find({"_id": {"$in": keys}}))


async def _open(api: Api, **addresses: str) -> tuple[dict[str, Any], dict[str, Party]]:
    parties = {role: api.party(role) for role in ("marketplace", "customer", "isv")}
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], **addresses
    )
    return opened, parties


async def test_an_smtp_server_failing_twice_then_accepting_gets_each_email_once(
    faulty_system: System, faulty_api: Api, smtp: ScriptedSmtp
):
    flaky = f"flaky-{uuid.uuid4().hex[:8]}@customer.example.com"
    smtp.data_script[flaky] = ["421 4.3.2 Service not available", "451 4.3.0 Try again later"]
    dead_before = _dead_letters(faulty_system)
    opened, _ = await _open(faulty_api, customer_email=flaky)
    isv_email = opened["isv_email"]

    await smtp.wait(lambda: len(smtp.to(flaky)) >= 1 and len(smtp.to(isv_email)) >= 1)
    # A duplicate would come late: until the notifier has handled all it was given.
    await drain(faulty_system, "notifier", NOTIFICATIONS_QUEUE)
    assert [answer[:3] for to, answer in smtp.answers if to == flaky] == ["421", "451", "250"]
    [email_] = smtp.to(flaky)
    assert email_["X-Event-Type"] == "delivery_opened"
    assert len(smtp.to(isv_email)) == 1  # the ISV's email did not wait for the customer's
    assert [to for to, _ in smtp.answers].count(isv_email) == 1

    records = _emails_records(faulty_system, opened["delivery_id"])
    failures = sorted(
        (r["attempt"], r["error"][:3], r["permanent"]) for r in records if r["status"] == "failed"
    )
    assert failures == [(1, "421", False), (2, "451", False)]
    keys = sorted({r["key"] for r in records})
    assert len(_sent_records(faulty_system, keys)) == 2
    assert _dead_letters(faulty_system) == dead_before


async def test_a_permanent_refusal_is_recorded_and_dead_lettered_and_the_others_still_emailed(
    faulty_system: System, faulty_api: Api, smtp: ScriptedSmtp
):
    bounce = f"bounce-{uuid.uuid4().hex[:8]}@customer.example.com"
    smtp.refused[bounce] = "550 5.1.1 No such user here"
    dead_before = _dead_letters(faulty_system)
    # The customer is the first recipient of ``delivery_opened``, the ISV the second.
    opened, _ = await _open(faulty_api, customer_email=bounce)
    delivery_id = opened["delivery_id"]

    await smtp.wait(lambda: len(smtp.to(opened["isv_email"])) >= 1)
    await until(
        lambda: _dead_letters(faulty_system) >= dead_before + 1,
        "the event reaches the dead-letter queue",
    )
    [dead] = [e for e in _peek_dead_letters(faulty_system) if e["delivery_id"] == delivery_id]
    assert dead["type"] == "delivery_opened"
    assert dead["event_id"] == event_id_for(opened["command_id"])

    [failed] = [r for r in _emails_records(faulty_system, delivery_id) if r["status"] == "failed"]
    assert failed["recipient"] == bounce and failed["permanent"] is True
    assert failed["error"] == "550 5.1.1 No such user here"
    assert failed["event_type"] == "delivery_opened"
    await drain(faulty_system, "notifier", NOTIFICATIONS_QUEUE)
    assert smtp.to(bounce) == [] and len(smtp.to(opened["isv_email"])) == 1
    assert _dead_letters(faulty_system) == dead_before + 1


# --- STARTTLS and login, against a real server ----------------------------------------------


class _Catcher:
    def __init__(self) -> None:
        self.logins: list[str] = []
        self.tls: list[bool] = []
        self.accepted: list[EmailMessage] = []

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = auth_data.login == b"dc" and auth_data.password == b"s3cret"
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope):
        self.tls.append(session.ssl is not None)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.accepted.append(message)
        return "250 OK"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_starttls_and_login_when_configured(certificate, monkeypatch):
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    catcher = _Catcher()
    port = free_port()
    controller = Controller(
        catcher,
        hostname="127.0.0.1",
        port=port,
        server_hostname="127.0.0.1",
        tls_context=server_tls,
        require_starttls=True,
        authenticator=catcher.authenticate,
        auth_required=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts our self-signed server
    controller.start()
    try:
        settings = Settings(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=True,
            smtp_username="dc",
            smtp_password="s3cret",
            mail_from="Delivery Center <dc@example.com>",
        )
        event = next(e for label, e in EVENTS if label == "basic:in_delivery:finish")
        notifier = Notifier(None, None, settings, lambda: event.occurred_at)  # type: ignore[arg-type]
        [customer, *_] = recipients(event, ADMIN_EMAIL)
        message = notifier.build(event, customer)
        await notifier.transport(message, "dc@example.com", [customer.email])
    finally:
        controller.stop()
    assert catcher.logins == ["dc"] and catcher.tls == [True]
    [received] = catcher.accepted
    assert received["Message-ID"] == message["Message-ID"]
