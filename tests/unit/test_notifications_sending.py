"""Sending: one email per (event, recipient) whatever is redelivered or retried; a refusal for
one recipient never keeps the others from theirs; every write an insert."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from datetime import datetime, timedelta
from email import errors
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from pymongo.errors import AutoReconnect, DuplicateKeyError, OperationFailure

from services.notifier.sending import (
    SMTPUTF8_MISSING,
    SMTPUTF8_OFF,
    EmailInFlight,
    Notifier,
    PermanentSmtpFailure,
    email_key,
    smtp_failure,
)
from shared.config import Settings
from shared.domain.events import Event
from shared.domain.reminders import minimum_notice, moot_reminder
from tests.unit.notification_events import EVENTS
from tooling.mailsink import MailSink

ADMIN_EMAIL = "admin@example.com"
CUSTOMER_EMAIL, ISV_EMAIL = "ada@example.com", "sales@isv.example"


class FakeCollection:
    """The two calls the notifier makes, with MongoDB's unique ``_id``; updates would fail."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if doc["_id"] in self.docs:
            raise DuplicateKeyError(f"duplicate _id {doc['_id']}")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    async def find_one(self, query: dict[str, Any], projection: Any = None) -> dict | None:
        assert set(query) == {"_id"}, "the notifier reads by _id only"
        found = self.docs.get(query["_id"])
        return copy.deepcopy(found) if found is not None else None


class Server:
    """A scripted SMTP server: per address, the errors its next attempts raise."""

    def __init__(self) -> None:
        self.script: dict[str, list[Exception]] = {}
        self.delivered: list[tuple[str, EmailMessage]] = []
        self.attempts: list[str] = []

    async def __call__(self, message: EmailMessage, sender: str, to: Sequence[str]) -> None:
        [address] = to
        self.attempts.append(address)
        planned = self.script.get(address)
        if planned:
            raise planned.pop(0)
        self.delivered.append((address, message))

    def to(self, address: str) -> list[EmailMessage]:
        return [message for to, message in self.delivered if to == address]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _event(label: str) -> Event:
    return next(event for name, event in EVENTS if name == label)


FINISHED = _event("basic:in_delivery:finish")
DISPUTED = _event("basic:awaiting_confirmation:open_dispute")


def _refused(code: int, address: str) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "5.1.1 no such user", address)]
    )


@pytest.fixture
def world() -> tuple[Notifier, Server, FakeCollection, FakeCollection, Clock]:
    emails, sent, server = FakeCollection(), FakeCollection(), Server()
    clock = Clock(FINISHED.occurred_at)
    settings = Settings(admin_email=ADMIN_EMAIL, public_url="https://dc.example.com")
    notifier = Notifier(emails, sent, settings, clock, transport=server)  # type: ignore[arg-type]
    return notifier, server, emails, sent, clock


async def test_each_recipient_once_and_a_redelivery_sends_nothing(world):
    notifier, server, emails, sent, _ = world
    assert await notifier.notify(FINISHED) == 2
    assert await notifier.notify(FINISHED) == 0
    assert sorted(to for to, _ in server.delivered) == [CUSTOMER_EMAIL, ISV_EMAIL]
    assert set(sent.docs) == {email_key(FINISHED.event_id, a) for a in (CUSTOMER_EMAIL, ISV_EMAIL)}
    assert {d["status"] for d in emails.docs.values()} == {"sending"}  # claims only: no failure


async def test_a_permanent_refusal_does_not_keep_the_others_from_their_email(world):
    notifier, server, emails, sent, _ = world
    server.script[CUSTOMER_EMAIL] = [_refused(550, CUSTOMER_EMAIL)]
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(DISPUTED)
    assert raised.value.failures == {CUSTOMER_EMAIL: "550 5.1.1 no such user"}
    assert sorted(to for to, _ in server.delivered) == [ADMIN_EMAIL, ISV_EMAIL]
    [failed] = [d for d in emails.docs.values() if d["status"] == "failed"]
    assert failed["recipient"] == CUSTOMER_EMAIL and failed["permanent"] is True
    assert failed["error"] == "550 5.1.1 no such user"
    assert failed["event_id"] == DISPUTED.event_id and failed["delivery_id"] == DISPUTED.delivery_id
    assert email_key(DISPUTED.event_id, CUSTOMER_EMAIL) not in sent.docs

    # Requeued by hand once the address is fixed: only the refused recipient is emailed.
    assert await notifier.notify(DISPUTED) == 1
    assert sorted(to for to, _ in server.delivered) == sorted(
        [ADMIN_EMAIL, CUSTOMER_EMAIL, ISV_EMAIL]
    )


async def test_a_transient_failure_is_retried_and_sends_exactly_once(world):
    notifier, server, emails, sent, _ = world
    server.script[CUSTOMER_EMAIL] = [
        aiosmtplib.SMTPDataError(421, "4.3.2 service not available"),
        aiosmtplib.SMTPDataError(451, "4.3.0 try again later"),
    ]
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPDataError):
            await notifier.notify(FINISHED)
    assert await notifier.notify(FINISHED) == 1
    assert await notifier.notify(FINISHED) == 0
    assert len(server.to(CUSTOMER_EMAIL)) == len(server.to(ISV_EMAIL)) == 1
    assert server.attempts.count(CUSTOMER_EMAIL) == 3 and server.attempts.count(ISV_EMAIL) == 1
    failures = sorted(
        (d["attempt"], d["error"]) for d in emails.docs.values() if d["status"] == "failed"
    )
    assert failures == [(1, "421 4.3.2 service not available"), (2, "451 4.3.0 try again later")]
    assert all(not d["permanent"] for d in emails.docs.values() if d["status"] == "failed")


class FlakySentRecords(FakeCollection):
    """``emails_sent`` on a database that fails the next ``failures`` inserts."""

    def __init__(self, failures: list[Exception]) -> None:
        super().__init__()
        self.failures = failures

    async def insert_one(self, doc: dict[str, Any]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        await super().insert_one(doc)


async def test_an_email_sent_while_the_database_fails_is_recorded_once_it_is_back(
    world, monkeypatch
):
    notifier, server, _, _, _ = world
    monkeypatch.setattr(asyncio, "sleep", _no_wait)
    # Unreachable, then failing as it stops: the email is out, so the record is insisted on.
    notifier.emails_sent = FlakySentRecords(
        [AutoReconnect("connection refused"), OperationFailure("context canceled")] * 2
    )
    assert await notifier.notify(FINISHED) == 2
    assert set(notifier.emails_sent.docs) == {
        email_key(FINISHED.event_id, a) for a in (CUSTOMER_EMAIL, ISV_EMAIL)
    }
    # A redelivery finds the records: nobody is emailed twice.
    assert await notifier.notify(FINISHED) == 0
    assert len(server.to(CUSTOMER_EMAIL)) == len(server.to(ISV_EMAIL)) == 1


async def _no_wait(seconds: float) -> None:
    """``asyncio.sleep`` for a test that must not wait for real time."""


async def test_a_transient_failure_outranks_a_permanent_one_so_the_event_is_retried(world):
    notifier, server, _, _, _ = world
    server.script[CUSTOMER_EMAIL] = [_refused(550, CUSTOMER_EMAIL)]
    server.script[ISV_EMAIL] = [ConnectionRefusedError("smtp down")]
    with pytest.raises(ConnectionRefusedError):
        await notifier.notify(DISPUTED)
    assert [to for to, _ in server.delivered] == [ADMIN_EMAIL]
    with pytest.raises(PermanentSmtpFailure):
        server.script[CUSTOMER_EMAIL] = [_refused(554, CUSTOMER_EMAIL)]
        await notifier.notify(DISPUTED)
    assert sorted(to for to, _ in server.delivered) == [ADMIN_EMAIL, ISV_EMAIL]


async def test_an_email_in_flight_elsewhere_is_waited_for_then_taken_over(world):
    notifier, server, emails, sent, clock = world
    key = email_key(FINISHED.event_id, CUSTOMER_EMAIL)
    claimed_at = clock.now - timedelta(seconds=5)
    await emails.insert_one({"_id": f"{key}#1", "status": "sending", "claimed_at": claimed_at})
    with pytest.raises(EmailInFlight) as raised:
        await notifier.notify(FINISHED)
    # It says when to look again: when the other sender's lease runs out.
    assert raised.value.until == claimed_at + notifier.settings.smtp_sending_lease
    assert [to for to, _ in server.delivered] == [ISV_EMAIL]
    # The other sender went silent past the lease: it died, and its email is taken over.
    clock.now = raised.value.until + timedelta(seconds=1)
    assert await notifier.notify(FINISHED) == 1
    assert emails.docs[f"{key}#2"]["status"] == "sending"
    assert len(server.to(CUSTOMER_EMAIL)) == 1 and key in sent.docs


async def test_an_address_that_cannot_be_written_is_refused_for_good(world):
    notifier, server, emails, _, _ = world
    broken = FINISHED.model_copy(
        update={
            "delivery": FINISHED.delivery.model_copy(
                update={"customer_email": "ada@example.com\r\nBcc: spy@evil.example"}
            )
        }
    )
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(broken)
    [(address, error)] = raised.value.failures.items()
    assert address.startswith("ada@example.com") and error.startswith("cannot write this email")
    assert [to for to, _ in server.delivered] == [ISV_EMAIL]


async def test_same_address_for_two_roles_gets_one_email(world):
    notifier, server, _, _, _ = world
    same = FINISHED.model_copy(
        update={"delivery": FINISHED.delivery.model_copy(update={"isv_email": CUSTOMER_EMAIL})}
    )
    assert await notifier.notify(same) == 1
    [message] = server.to(CUSTOMER_EMAIL)
    assert "Action needed" in message["Subject"]


def test_smtp_answers_are_classified():
    assert smtp_failure(aiosmtplib.SMTPDataError(554, "rejected")) == (True, "554 rejected")
    assert smtp_failure(aiosmtplib.SMTPDataError(451, "later")) == (False, "451 later")
    assert smtp_failure(aiosmtplib.SMTPSenderRefused(553, "no", "a@b")) == (True, "553 no")
    assert smtp_failure(_refused(550, "a@b")) == (True, "550 5.1.1 no such user")
    assert smtp_failure(_refused(450, "a@b")) == (False, "450 5.1.1 no such user")
    assert smtp_failure(aiosmtplib.SMTPDataError(550, "bad\r\nline")) == (True, "550 bad line")
    assert smtp_failure(aiosmtplib.SMTPServerDisconnected("gone")) is None
    assert smtp_failure(ConnectionRefusedError()) is None


# --- addresses as sent: the domain in ASCII; a local part beyond ASCII only with SMTPUTF8 ----

IDN_EMAIL, IDN_ASCII = "ada@bücher.example", "ada@xn--bcher-kva.example"
UTF8_EMAIL = "zoë@bücher.example"


def _addressed(event: Event, **emails: str) -> Event:
    return event.model_copy(update={"delivery": event.delivery.model_copy(update=emails)})


def _world(clock: Clock, transport: Any = None, **settings: Any) -> Notifier:
    settings = {"admin_email": ADMIN_EMAIL, "public_url": "https://dc.example.com", **settings}
    return Notifier(
        FakeCollection(),  # type: ignore[arg-type]
        FakeCollection(),  # type: ignore[arg-type]
        Settings(**settings),
        clock,
        transport=transport,
    )


@pytest.mark.parametrize(
    ("kept", "sent"),
    [
        (IDN_EMAIL, IDN_ASCII),
        ("ops@straße.example", "ops@xn--strae-oqa.example"),
        ("kim@例え.example.com", "kim@xn--r8jz45g.example.com"),
        ("ada@example.com", "ada@example.com"),
    ],
)
async def test_an_idn_domain_goes_out_in_ascii_in_the_envelope_and_in_to(world, kept, sent):
    notifier, server, _, emails_sent, _ = world
    event = _addressed(FINISHED, customer_email=kept)
    assert await notifier.notify(event) == 2
    [message] = server.to(sent)
    assert message["To"] == sent and str(message["To"]).isascii()
    assert email_key(event.event_id, kept) in emails_sent.docs  # recorded as kept


@pytest.mark.parametrize("address", [UTF8_EMAIL, "üser@example.com", "用户@例子.example"])
async def test_a_local_part_beyond_ascii_is_refused_for_good_while_smtputf8_is_off(address):
    server = Server()
    notifier = _world(Clock(FINISHED.occurred_at), server)
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(_addressed(FINISHED, customer_email=address))
    assert raised.value.failures == {address: SMTPUTF8_OFF}
    assert "DC_SMTP_UTF8 is off" in SMTPUTF8_OFF
    assert server.attempts == [ISV_EMAIL]  # never tried; the others still emailed


async def test_with_smtputf8_on_a_local_part_beyond_ascii_goes_out_as_utf8():
    server = Server()
    notifier = _world(Clock(FINISHED.occurred_at), server, smtp_utf8=True)
    assert await notifier.notify(_addressed(FINISHED, customer_email=UTF8_EMAIL)) == 2
    [message] = server.to("zoë@xn--bcher-kva.example")
    assert message["To"] == "zoë@xn--bcher-kva.example"


async def test_through_a_real_smtp_server_the_envelope_has_the_ascii_domain_and_smtputf8():
    with MailSink("127.0.0.1", 0) as sink:
        notifier = _world(Clock(FINISHED.occurred_at), smtp_port=sink.port, smtp_utf8=True)
        event = _addressed(FINISHED, customer_email=UTF8_EMAIL, isv_email=IDN_EMAIL)
        assert await notifier.notify(event) == 2
        taken = {r.rcpt_tos: r for r in sink.received}
        utf8, idn = taken[("zoë@xn--bcher-kva.example",)], taken[(IDN_ASCII,)]
        assert utf8.smtputf8 and utf8.message["To"] == "zoë@xn--bcher-kva.example"
        # Only the address that needs it is sent with SMTPUTF8.
        assert not idn.smtputf8 and idn.message["To"] == IDN_ASCII
        assert utf8.mail_from == idn.mail_from == "delivery-center@localhost"


async def test_a_server_without_smtputf8_is_a_permanent_failure_naming_the_setting():
    with MailSink("127.0.0.1", 0, smtputf8=False) as sink:
        notifier = _world(Clock(FINISHED.occurred_at), smtp_port=sink.port, smtp_utf8=True)
        event = _addressed(FINISHED, customer_email=UTF8_EMAIL, isv_email=IDN_EMAIL)
        with pytest.raises(PermanentSmtpFailure) as raised:
            await notifier.notify(event)
        assert raised.value.failures == {UTF8_EMAIL: SMTPUTF8_MISSING}
        assert "DC_SMTP_UTF8" in SMTPUTF8_MISSING
        assert [r.rcpt_tos for r in sink.received] == [(IDN_ASCII,)]


# --- reminders: not sent once their automatic confirmation is (almost) due -----------------

REMINDER = _event("basic:awaiting_confirmation:expire_deadline:reminder")
[WINDOW] = REMINDER.delivery.deadlines  # the fired reminder is gone from the event's list
CONFIRMED_AT = WINDOW.due_at


@pytest.mark.parametrize(
    "before",
    [timedelta(0), -timedelta(days=2), minimum_notice(timedelta(days=3)) - timedelta(seconds=1)],
    ids=["due-now", "overdue", "just-too-late"],
)
async def test_a_reminder_whose_confirmation_is_due_is_not_sent(world, before):
    notifier, server, emails, _, clock = world
    clock.now = CONFIRMED_AT - before
    assert await notifier.notify(REMINDER) == 0
    assert server.attempts == [] and emails.docs == {}


async def test_a_reminder_in_time_is_sent(world):
    notifier, server, _, _, clock = world
    clock.now = CONFIRMED_AT - minimum_notice(notifier.settings.reminder_lead)
    assert await notifier.notify(REMINDER) == 1
    assert [to for to, _ in server.delivered] == [CUSTOMER_EMAIL]


def test_the_reminder_rule():
    lead, window = timedelta(days=3), REMINDER.delivery.deadlines
    assert moot_reminder(window, CONFIRMED_AT - lead, lead) is None
    assert "too late" in (moot_reminder(window, CONFIRMED_AT, lead) or "")
    assert "too late" in (moot_reminder(window, CONFIRMED_AT + lead, lead) or "")
    paused = [d.model_copy(update={"status": "paused", "due_at": None}) for d in window]
    assert "no automatic confirmation" in (moot_reminder(paused, CONFIRMED_AT - lead, lead) or "")
    assert "no automatic confirmation" in (moot_reminder([], CONFIRMED_AT - lead, lead) or "")
    # The share of the lead scales with it: 3 hours of 3 days, 1/6 s of the tests' 4 s.
    assert minimum_notice(lead) == timedelta(hours=3)
    assert minimum_notice(timedelta(seconds=4)) == timedelta(seconds=4 / 24)


async def test_an_email_in_flight_outranks_a_permanent_refusal(world):
    """No dead letter while another sender may still get an email out, or may have died."""
    notifier, server, emails, _, clock = world
    server.script[CUSTOMER_EMAIL] = [_refused(550, CUSTOMER_EMAIL)]
    key = email_key(DISPUTED.event_id, ISV_EMAIL)
    await emails.insert_one({"_id": f"{key}#1", "status": "sending", "claimed_at": clock.now})
    with pytest.raises(EmailInFlight):
        await notifier.notify(DISPUTED)
    assert [to for to, _ in server.delivered] == [ADMIN_EMAIL]


# --- an email that cannot be built is a permanent failure, never retried (issue 15) -------


@pytest.mark.parametrize(
    "address",
    [
        # Taken by the gateway before issue 15; events already on the queue still hold them.
        "=?utf-8?q?ann?=@example.com",
        "=?utf-8?b?YQ==?=@example.com",
        "=?utf-8?q?a?=.b@example.com",
        "=?x?q?a?=@example.com",  # CharsetError: was retried for a minute as transient
    ],
)
async def test_an_address_that_headers_would_decode_fails_for_good_naming_why(world, address):
    notifier, server, emails, _, _ = world
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(_addressed(FINISHED, customer_email=address))
    [(refused, error)] = raised.value.failures.items()
    assert refused == address and error.startswith("cannot write this email")
    assert "RFC 2047" in error
    assert server.attempts == [ISV_EMAIL]  # never tried; the other recipient still emailed
    [failure] = [d for d in emails.docs.values() if d["status"] == "failed"]
    assert failure["permanent"] is True and failure["recipient"] == address


@pytest.mark.parametrize(
    "error",
    [
        errors.CharsetError("Unknown charset 'x'"),
        errors.HeaderParseError("expected addr-spec"),
        errors.InvalidHeaderDefect("missing trailing whitespace after encoded-word"),
        errors.ObsoleteHeaderDefect("local-part is not a dot-atom (contains CFWS)"),
        LookupError("unknown encoding: x"),
        UnicodeEncodeError("ascii", "ü", 0, 1, "ordinal not in range(128)"),
        ValueError("a header value may not contain a line break"),
        TypeError("expected str"),
    ],
)
async def test_any_failure_to_build_the_email_is_permanent(world, monkeypatch, error):
    notifier, server, emails, _, _ = world
    build = notifier.build

    def failing(event: Event, recipient: Any) -> EmailMessage:
        if recipient.email == CUSTOMER_EMAIL:
            raise error
        return build(event, recipient)

    monkeypatch.setattr(notifier, "build", failing)
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(FINISHED)
    assert list(raised.value.failures) == [CUSTOMER_EMAIL]
    assert type(error).__name__ in raised.value.failures[CUSTOMER_EMAIL]
    assert server.attempts == [ISV_EMAIL]
    # Once refused for good, a redelivery does not try to build it again into a retry loop.
    [failure] = [d for d in emails.docs.values() if d["status"] == "failed"]
    assert failure["permanent"] is True


async def test_a_message_that_cannot_be_written_for_sending_fails_before_the_transport(
    world, monkeypatch
):
    """A header that is set without complaint but fails when the message is written out (as
    aiosmtplib writes it, inside the transport) fails for good before the transport."""
    notifier, server, _, _, _ = world
    build = notifier.build

    class Unwritable(str):
        name = "X-Unwritable"  # a header object, which the policy asks to fold itself

        def fold(self, *, policy: Any) -> str:
            raise errors.HeaderParseError("this header cannot be folded")

    def unwritable(event: Event, recipient: Any) -> EmailMessage:
        message = build(event, recipient)
        if recipient.email == CUSTOMER_EMAIL:
            message._headers.append(("X-Unwritable", Unwritable("x")))  # as a parser would
        return message

    monkeypatch.setattr(notifier, "build", unwritable)
    with pytest.raises(PermanentSmtpFailure) as raised:
        await notifier.notify(FINISHED)
    assert "this header cannot be folded" in raised.value.failures[CUSTOMER_EMAIL]
    assert server.attempts == [ISV_EMAIL]
