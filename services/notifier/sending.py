"""Send one email per (event, recipient), whatever is redelivered.

Before the SMTP conversation a claim is inserted in ``emails``; after the server accepted
the message a record is inserted in ``emails_sent``. A crash between the two resends on
redelivery with the same ``Message-ID``, so even that rare duplicate is recognisably the
same message.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr

import aiosmtplib
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.notifier.render import render
from services.notifier.rules import Recipient, recipients
from shared.config import Settings
from shared.domain.events import Event

#: How long a "sending" record blocks others; after that its sender is presumed dead.
SENDING_LEASE = timedelta(seconds=60)


class PermanentSmtpFailure(Exception):
    """The SMTP server refused for good (5xx): retrying will not help."""


class EmailInFlight(Exception):
    """Another worker is sending this very email right now; retry to see how it ended."""


def message_id(event_id: str, email: str) -> str:
    digest = hashlib.sha256(f"{event_id}:{email}".encode()).hexdigest()[:24]
    return f"<{event_id}.{digest}@delivery-center>"


class Notifier:
    def __init__(
        self,
        emails: AsyncCollection,
        emails_sent: AsyncCollection,
        settings: Settings,
        clock: Callable[[], datetime],
    ):
        self.emails = emails
        self.emails_sent = emails_sent
        self.settings = settings
        self.clock = clock

    async def notify(self, event: Event) -> int:
        """Email every recipient of ``event`` not yet emailed; returns how many were sent."""
        sent = 0
        for recipient in recipients(event, self.settings.admin_email):
            key = f"{event.event_id}:{recipient.email}"
            if await self.emails_sent.find_one({"_id": key}, {"_id": 1}) is not None:
                continue
            await self._claim(event, recipient)
            try:
                await self._send(event, recipient)
            except PermanentSmtpFailure:
                raise
            except BaseException:
                # A transient failure: free the claim so the retry need not wait for the lease.
                await self.emails.delete_one({"_id": key, "status": "sending"})
                raise
            with contextlib.suppress(DuplicateKeyError):
                await self.emails_sent.insert_one({"_id": key, "sent_at": self.clock()})
            sent += 1
        return sent

    async def _claim(self, event: Event, recipient: Recipient) -> None:
        """Make this worker the one to send this (event, recipient), or raise EmailInFlight."""
        key = f"{event.event_id}:{recipient.email}"
        now = self.clock()
        try:
            await self.emails.insert_one(
                {
                    "_id": key,
                    "event_id": event.event_id,
                    "delivery_id": event.delivery_id,
                    "event_type": event.type,
                    "recipient": recipient.email,
                    "role": recipient.role.value,
                    "status": "sending",
                    "claimed_at": now,
                    "created_at": now,
                }
            )
            return
        except DuplicateKeyError:
            pass
        # Retry a refused email (its message was requeued by hand), or take over a claim
        # whose sender has been silent past the lease: it died.
        taken = await self.emails.update_one(
            {
                "_id": key,
                "$or": [
                    {"status": "failed"},
                    {"status": "sending", "claimed_at": {"$lte": now - SENDING_LEASE}},
                ],
            },
            {"$set": {"status": "sending", "claimed_at": now}},
        )
        if not taken.modified_count:
            raise EmailInFlight(key)

    def build(self, event: Event, recipient: Recipient) -> EmailMessage:
        rendered = render(event, recipient, public_url=self.settings.public_url, now=self.clock())
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = formataddr(("", recipient.email))
        message["Subject"] = rendered.subject
        message["Message-ID"] = message_id(event.event_id, recipient.email)
        message["X-Delivery-Id"] = event.delivery_id
        message["X-Event-Type"] = event.type
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message

    async def _send(self, event: Event, recipient: Recipient) -> None:
        settings = self.settings
        try:
            await aiosmtplib.send(
                self.build(event, recipient),
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                start_tls=settings.smtp_starttls,
                timeout=30,
            )
        except aiosmtplib.SMTPResponseException as error:
            if 500 <= error.code < 600:
                await self.emails.update_one(
                    {"_id": f"{event.event_id}:{recipient.email}"},
                    {"$set": {"status": "failed", "error": f"{error.code} {error.message}"}},
                )
                raise PermanentSmtpFailure(
                    f"{recipient.email}: {error.code} {error.message}"
                ) from error
            raise
