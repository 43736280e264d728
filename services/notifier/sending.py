"""Send one email per (event, recipient), whatever is redelivered.

The ``emails`` collection holds one record per pair: written "sending" before the SMTP
conversation and "sent" after it. A crash between the two resends on redelivery with
the same ``Message-ID``, so even that rare duplicate is recognisably the same message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr

import aiosmtplib
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from services.notifier.render import render
from services.notifier.rules import Recipient, recipients
from shared.config import Settings
from shared.domain.events import Event


class PermanentSmtpFailure(Exception):
    """The SMTP server refused for good (5xx): retrying will not help."""


def message_id(event_id: str, email: str) -> str:
    digest = hashlib.sha256(f"{event_id}:{email}".encode()).hexdigest()[:24]
    return f"<{event_id}.{digest}@delivery-center>"


class Notifier:
    def __init__(self, emails: AsyncCollection, settings: Settings, clock: Callable[[], datetime]):
        self.emails = emails
        self.settings = settings
        self.clock = clock

    async def notify(self, event: Event) -> int:
        """Email every recipient of ``event`` not yet emailed; returns how many were sent."""
        sent = 0
        for recipient in recipients(event, self.settings.admin_email):
            if await self._claim(event, recipient):
                await self._send(event, recipient)
                await self.emails.update_one(
                    {"_id": f"{event.event_id}:{recipient.email}"},
                    {"$set": {"status": "sent", "sent_at": self.clock()}},
                )
                sent += 1
        return sent

    async def _claim(self, event: Event, recipient: Recipient) -> bool:
        """True unless this (event, recipient) was sent already."""
        key = f"{event.event_id}:{recipient.email}"
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
                    "created_at": self.clock(),
                }
            )
            return True
        except DuplicateKeyError:
            existing = await self.emails.find_one({"_id": key})
            return existing is None or existing.get("status") != "sent"

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
                raise PermanentSmtpFailure(f"{recipient.email}: {error.code} {error.message}") from error
            raise
