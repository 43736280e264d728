"""The admin's email when a webhook endpoint is disabled, sent through the notifier's SMTP
transport (``services.notifier.sending``) with its settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from services.notifier.dispatcher import Alert
from services.notifier.headers import header_address, message_id, subject_header
from services.notifier.render import one_line
from services.notifier.sending import Transport
from shared.config import Settings
from shared.contracts.webhooks import WebhookEndpoint
from shared.domain.addresses import smtp_form

logger = logging.getLogger(__name__)

#: Tries at the email, and the wait before the second (doubling after).
TRIES = 4
FIRST_WAIT = 2.0


def disabled_email(
    settings: Settings, endpoint: WebhookEndpoint, reason: str, now: datetime
) -> EmailMessage:
    """A plain text email to ``DC_ADMIN_EMAIL``: "Webhook endpoint <url> disabled", why, and
    how to turn it back on."""
    message = EmailMessage()
    message["From"] = header_address(settings.mail_from)
    message["To"] = header_address(settings.admin_email)
    message["Subject"] = subject_header(f"Webhook endpoint {one_line(endpoint.url)} disabled")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(
        f"webhook-{endpoint.webhook_id}-{int(now.timestamp())}", settings.admin_email
    )
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Webhook-Id"] = one_line(endpoint.webhook_id)
    message.set_content(
        f"Delivery Center disabled the webhook endpoint {endpoint.url} "
        f"(id {endpoint.webhook_id}) after it kept failing.\n\n"
        f"Reason: {reason}\n\n"
        "It receives nothing while disabled. Once the receiver works again, enable it with "
        f"PATCH /v1/webhooks/{endpoint.webhook_id}; events from the meantime can be resent "
        f"with POST /v1/webhooks/{endpoint.webhook_id}/replay?since=...\n"
    )
    return message


def admin_alert(settings: Settings, transport: Transport, clock: Callable[[], datetime]) -> Alert:
    """The dispatcher's ``alert``: emails the admin that ``endpoint`` was disabled, trying a
    few times over some seconds; a failure after that is logged, not raised (the endpoint
    stays disabled either way)."""

    async def alert(endpoint: WebhookEndpoint, reason: str) -> None:
        message = disabled_email(settings, endpoint, reason, clock())
        [(_, sender)] = getaddresses([settings.mail_from])
        envelope_from = smtp_form(sender or settings.mail_from).address
        to = smtp_form(settings.admin_email).address
        wait = FIRST_WAIT
        for tries in range(1, TRIES + 1):
            try:
                await transport(message, envelope_from, [to])
                logger.info("emailed %s: webhook %s disabled", to, endpoint.webhook_id)
                return
            except Exception as error:
                if tries == TRIES:
                    logger.error(
                        "could not email %s that webhook %s was disabled: %r",
                        to,
                        endpoint.webhook_id,
                        error,
                    )
                    return
                await asyncio.sleep(wait)
                wait *= 2

    return alert
