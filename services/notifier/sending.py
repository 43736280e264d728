"""Send one email per (event, recipient), whatever is redelivered or retried.

Every write is an insert (FerretDB's SQLite backend scans a whole collection on each update
or delete, so the growing ``emails`` collections are never updated):

- ``emails``: before each SMTP attempt, a claim ``<event>:<address>#<attempt>``; a unique
  ``_id`` makes one worker the sender. A failed attempt is recorded beside its claim as
  ``<claim>.failed`` with the SMTP error, which frees the next attempt at once. A claim with
  no outcome whose sender has been silent past the lease (``DC_SMTP_SENDING_LEASE``) is
  taken over (its sender died); until then ``EmailInFlight`` says when it runs out, and the
  message waits for that without spending a retry (``budget``).
- ``emails_sent``: ``<event>:<address>`` once the SMTP server accepted the email; with it, a
  redelivered event sends nothing. A crash between acceptance and this insert resends on
  redelivery with the same ``Message-ID``, so even that rare duplicate is recognisably the same.

The recipients of an event are independent: a failure for one does not stop the others. After
all were tried, a transient failure (connection, timeout, 4xx) is raised for dramatiq to retry
the message with backoff (recipients already emailed are skipped); then an email in flight
elsewhere; if only permanent refusals (5xx) are left, ``PermanentSmtpFailure`` sends the
message to the dead letters, naming them. An email that cannot be built or written
(``UNWRITABLE``: a header the ``email`` package refuses, an unknown charset …) is refused for
good at once, like a 5xx: the same event fails the same way on every retry.

Addresses go out as ``shared.domain.addresses.smtp_form`` makes them: the domain in ASCII
(A-labels) in the envelope and in ``To:``; a local part beyond ASCII only with SMTPUTF8
(``DC_SMTP_UTF8``), and otherwise it is refused for good, naming the setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from typing import Any

import aiosmtplib
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.notifier.budget import SendingBudget
from services.notifier.headers import (
    UNWRITABLE,
    header_address,
    message_id,
    subject_header,
    thread_id,
    written,
)
from services.notifier.recipient_links import recipient_link, recipient_list_link
from services.notifier.recipient_readers import recipient_reader
from services.notifier.render import one_line, render
from services.notifier.rules import Recipient, recipients, why_not_emailed
from shared.config import Settings
from shared.domain.addresses import smtp_form
from shared.domain.events import Event

logger = logging.getLogger(__name__)

#: Sends one message from the envelope sender to the envelope recipients (ASCII domains;
#: SMTPUTF8 if an address needs it): aiosmtplib in production.
Transport = Callable[[EmailMessage, str, Sequence[str]], Awaitable[Any]]


class PermanentSmtpFailure(Exception):
    """The SMTP server refused for good (5xx): retrying will not help. ``failures`` maps each
    refused address to the server's answer."""

    def __init__(self, failures: Mapping[str, str]):
        self.failures = dict(failures)
        super().__init__("; ".join(f"{to}: {error}" for to, error in self.failures.items()))


class EmailInFlight(Exception):
    """Another worker is sending this very email right now: look again once its lease runs
    out, at ``until`` (by the claim's clock), to see how it ended or take it over."""

    def __init__(self, key: str, until: datetime):
        self.key, self.until = key, until
        super().__init__(f"{key} is being sent by another worker until {until.isoformat()}")


#: Why an address that needs SMTPUTF8 is not sent: the setting is off.
SMTPUTF8_OFF = (
    "the address has characters beyond ASCII before the @-sign, which need SMTPUTF8, and "
    "DC_SMTP_UTF8 is off"
)
#: Why it is not sent: the server does not offer SMTPUTF8 although the setting says it does.
SMTPUTF8_MISSING = (
    "the SMTP server does not offer SMTPUTF8, which this address needs, although DC_SMTP_UTF8 "
    "is on: turn it off (then such addresses are refused when given) or use a server with it"
)


def email_key(event_id: str, email: str) -> str:
    """The ``_id`` of one (event, recipient) in ``emails`` and ``emails_sent``: ``event:email``."""
    return f"{event_id}:{email}"


def smtp_failure(error: Exception) -> tuple[bool, str] | None:
    """(permanent?, the server's answer) for an SMTP refusal; None if not a refusal."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        refusals = [smtp_failure(refused) for refused in error.recipients]
        answers = [failure for failure in refusals if failure is not None]
        if not answers:
            return None
        return all(permanent for permanent, _ in answers), "; ".join(a for _, a in answers)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 500 <= error.code < 600, f"{error.code} {one_line(error.message)}"
    if isinstance(error, aiosmtplib.SMTPNotSupported) and "SMTPUTF8" in str(error):
        return True, SMTPUTF8_MISSING
    return None


class Notifier:
    """Sends each event's emails once per recipient: claims in ``emails``, sent ones in
    ``emails_sent``, the SMTP server ``DC_SMTP_HOST:DC_SMTP_PORT`` unless ``transport``
    (``clock``: UTC now; the lease and limits: ``budget.SendingBudget``)."""

    def __init__(
        self,
        emails: AsyncCollection,
        emails_sent: AsyncCollection,
        settings: Settings,
        clock: Callable[[], datetime],
        transport: Transport | None = None,
    ):
        self.emails = emails
        self.emails_sent = emails_sent
        self.settings = settings
        self.clock = clock
        self.transport = transport or self._smtp
        self.budget = SendingBudget(settings.smtp_sending_lease)

    async def notify(self, event: Event) -> int:
        """Email every recipient of ``event`` not yet emailed; returns how many were sent.

        Raises the first transient failure after trying everyone (to be retried), else
        ``PermanentSmtpFailure`` naming every refused recipient; while another worker is
        sending one of the emails, ``EmailInFlight`` (the latest lease end) before those.
        An event not worth an email (``rules.why_not_emailed``) sends nothing.
        """
        skip = why_not_emailed(event, self.clock(), self.settings.reminder_lead)
        if skip is not None:
            logger.info("event %s (%s): no email, %s", event.event_id, event.type, skip)
            return 0
        chosen = recipients(event, self.settings.admin_email)
        # Side by side: each recipient's SMTP conversation is its own, and a slow or failing
        # one neither delays nor stops the others.
        outcomes = await asyncio.gather(
            *(self.notify_one(event, recipient) for recipient in chosen), return_exceptions=True
        )
        sent = 0
        refused: dict[str, str] = {}
        transient: Exception | None = None
        in_flight: EmailInFlight | None = None
        for recipient, outcome in zip(chosen, outcomes, strict=True):
            if isinstance(outcome, PermanentSmtpFailure):
                refused.update(outcome.failures)
            elif isinstance(outcome, EmailInFlight):
                if in_flight is None or outcome.until > in_flight.until:
                    in_flight = outcome
            elif isinstance(outcome, Exception):
                logger.warning(
                    "event %s: email to %s failed, will retry: %r",
                    event.event_id,
                    recipient.email,
                    outcome,
                )
                transient = transient or outcome
            elif isinstance(outcome, BaseException):
                raise outcome  # cancelled or interrupted: not a failure of the email
            else:
                sent += outcome
        if transient is not None:
            raise transient
        if in_flight is not None:
            # Before any dead letter: that email may still fail, or its sender may have died.
            raise in_flight
        if refused:
            logger.error(
                "event %s (%s, delivery %s): refused for good for %s; the message goes to the "
                "dead letters",
                event.event_id,
                event.type,
                event.delivery_id,
                ", ".join(f"{to} ({error})" for to, error in refused.items()),
            )
            raise PermanentSmtpFailure(refused)
        return sent

    async def notify_one(self, event: Event, recipient: Recipient) -> int:
        """Email ``recipient`` of ``event`` unless done already; 1 if sent now, else 0."""
        key = email_key(event.event_id, recipient.email)
        if await self._sent(key):
            return 0
        # All that is done under the claim ends within the hold, before the lease does: a live
        # sender is never taken for dead, so nobody sends its email again (see ``budget``).
        async with asyncio.timeout(self.budget.hold_limit.total_seconds()):
            attempt = await self._claim(event, recipient, key)
            return await self._send_claimed(event, recipient, key, attempt)

    async def _send_claimed(
        self, event: Event, recipient: Recipient, key: str, attempt: int
    ) -> int:
        if attempt > 1 and await self._sent(key):
            return 0  # the sender we took over from got it out after all
        try:
            message = self.build(event, recipient)
            sender, to = smtp_form(self._sender()), smtp_form(recipient.email)
            # Written once as aiosmtplib writes it, so a header that cannot be written fails
            # here, for good, and not inside the transport where it would look transient.
            written(message, smtputf8=sender.smtputf8 or to.smtputf8)
        except UNWRITABLE as error:
            answer = f"cannot write this email: {type(error).__name__}: {error}"
            logger.error(
                "event %s: the email to %s cannot be written, for good: %s",
                event.event_id,
                recipient.email,
                answer,
            )
            await self._failed(event, recipient, key, attempt, answer, permanent=True)
            raise PermanentSmtpFailure({recipient.email: answer}) from error
        if (sender.smtputf8 or to.smtputf8) and not self.settings.smtp_utf8:
            await self._failed(event, recipient, key, attempt, SMTPUTF8_OFF, permanent=True)
            raise PermanentSmtpFailure({recipient.email: SMTPUTF8_OFF})
        try:
            async with asyncio.timeout(self.budget.smtp_limit.total_seconds()):
                await self.transport(message, sender.address, [to.address])
        except Exception as error:
            failure = smtp_failure(error)
            permanent, answer = failure if failure is not None else (False, repr(error))
            if permanent:
                await self._failed(event, recipient, key, attempt, answer, permanent=True)
                raise PermanentSmtpFailure({recipient.email: answer}) from error
            # Record it, which frees the next attempt without waiting for the lease.
            with contextlib.suppress(Exception):
                await self._failed(event, recipient, key, attempt, answer, permanent=False)
            raise
        await self._record_sent(key, attempt)
        logger.info("event %s: emailed %s (%s)", event.event_id, recipient.email, event.type)
        return 1

    async def _record_sent(self, key: str, attempt: int) -> None:
        """Record that the SMTP server accepted the email. It is out: without the record it
        would be sent again once the lease ends, so a database outage or error is waited out
        (for the rest of the sender's hold) rather than failing the message."""
        while True:
            try:
                await self.emails_sent.insert_one(
                    {"_id": key, "sent_at": self.clock(), "attempt": attempt}
                )
                return
            except DuplicateKeyError:
                return
            except PyMongoError as error:
                # Unreachable, or failing while it stops ("context canceled" from FerretDB):
                # the insert has one fixed id, so trying it again is always safe.
                logger.warning("email %s sent but not recorded yet: %r", key, error)
                await asyncio.sleep(0.5)

    async def _sent(self, key: str) -> bool:
        return await self.emails_sent.find_one({"_id": key}, {"_id": 1}) is not None

    def _record(self, event: Event, recipient: Recipient, key: str, attempt: int) -> dict:
        return {
            "key": key,
            "attempt": attempt,
            "event_id": event.event_id,
            "delivery_id": event.delivery_id,
            "event_type": event.type,
            "recipient": recipient.email,
            "role": recipient.role.value,
        }

    async def _claim(self, event: Event, recipient: Recipient, key: str) -> int:
        """Make this worker the sender of the next attempt, or raise EmailInFlight."""
        now = self.clock()
        attempt = 0
        while True:
            attempt += 1
            claim_id = f"{key}#{attempt}"
            try:
                await self.emails.insert_one(
                    {
                        "_id": claim_id,
                        **self._record(event, recipient, key, attempt),
                        "status": "sending",
                        "claimed_at": now,
                    }
                )
                return attempt
            except DuplicateKeyError:
                pass
            if await self.emails.find_one({"_id": f"{claim_id}.failed"}, {"_id": 1}) is not None:
                continue  # that attempt failed: on to the next
            claim = await self.emails.find_one({"_id": claim_id}, {"claimed_at": 1})
            lease = self.budget.lease
            if claim is not None and claim["claimed_at"] <= now - lease:
                continue  # its sender has been silent past the lease: it died
            # Gone meanwhile (never, as claims are not deleted): as if just claimed.
            raise EmailInFlight(key, (claim["claimed_at"] if claim else now) + lease)

    async def _failed(
        self,
        event: Event,
        recipient: Recipient,
        key: str,
        attempt: int,
        error: str,
        *,
        permanent: bool,
    ) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self.emails.insert_one(
                {
                    "_id": f"{key}#{attempt}.failed",
                    **self._record(event, recipient, key, attempt),
                    "status": "failed",
                    "permanent": permanent,
                    "error": error,
                    "failed_at": self.clock(),
                }
            )

    def _sender(self) -> str:
        addresses = getaddresses([self.settings.mail_from])
        return addresses[0][1] if addresses and addresses[0][1] else self.settings.mail_from

    def build(self, event: Event, recipient: Recipient) -> EmailMessage:
        """The email for ``recipient``: every header written through the default policy (which
        encodes non-ASCII and refuses CR/LF), every value from the event made one line; the
        Subject folded so that it decodes to exactly the rendered subject (``headers``)."""
        reader = recipient_reader(self.settings, event, recipient)
        rendered = render(
            event,
            recipient,
            public_url=self.settings.public_url,
            now=self.clock(),
            link=recipient_link(self.settings, event, recipient),
            list_link=recipient_list_link(self.settings, event, recipient),
            locale=reader.locale,
            time_zone=reader.time_zone,
        )
        message = EmailMessage()
        message["From"] = header_address(self.settings.mail_from)
        message["To"] = header_address(recipient.email)
        message["Subject"] = subject_header(rendered.subject)
        message["Date"] = format_datetime(self.clock())
        message["Message-ID"] = message_id(event.event_id, recipient.email)
        message["References"] = thread_id(event.delivery_id)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Delivery-Id"] = one_line(event.delivery_id)
        message["X-Event-Type"] = one_line(event.type)
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        # After the content: set_content drops every Content-* header set before it.
        message["Content-Language"] = reader.locale  # RFC 3282
        return message

    async def _smtp(self, message: EmailMessage, sender: str, to: Sequence[str]) -> None:
        settings = self.settings
        # aiosmtplib would add it by itself; said here, so a server without it is refused.
        utf8 = not (sender + "".join(to)).isascii()
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=list(to),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=self.budget.smtp_limit.total_seconds(),
            mail_options=["SMTPUTF8"] if utf8 else None,
        )
