"""Helpers of the browser tests: links from emails, raw form posts, waiting for outcomes."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from playwright.async_api import Page, expect

from services.gateway.pages.csrf import csrf_token
from services.runtime.links import page_url
from shared.config import Settings
from tests.integration.client import Api, Party
from tooling.mailsink import MailSink

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
#: The start of a PNG file: enough for the gateway to type it from its bytes.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
_PAGE_LINK = re.compile(r"https?://[^\s\"'<>]+/d/[0-9a-f]{32}\?[^\s\"'<>]+")


def about(delivery_id: str, to: str):
    def match(message: EmailMessage) -> bool:
        return message["X-Delivery-Id"] == delivery_id and message["To"] == to

    return match


def page_link_in(message: EmailMessage) -> str | None:
    """The link to the delivery's page in an email's plain-text part, if it has one."""
    body = message.get_body(("plain",))
    found = _PAGE_LINK.search(body.get_content() if body else "")
    return found.group(0) if found else None


async def link_from_email(
    mail: MailSink,
    settings: Settings,
    delivery_id: str,
    to: str,
    party: Party,
    action: str,
    *,
    count: int = 1,
) -> str:
    """The page link of the ``count``-th email to ``to`` about the delivery; until the emails
    carry one, the link :func:`page_url` makes for the notifier."""
    messages = await mail.wait_for_async(about(delivery_id, to), count=count)
    return page_link_in(messages[count - 1]) or page_url(
        settings, delivery_id, party.sub, party.role, action=action
    )


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


async def open_delivery(api: Api, parties: dict[str, Party], **fields: Any) -> dict[str, Any]:
    return await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], **fields
    )


async def to_awaiting_confirmation(api: Api, parties: dict[str, Party], delivery_id: str) -> None:
    body = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
    assert (await api.command(delivery_id, parties["customer"], body))["status"] == "applied"
    finished = await api.command(delivery_id, parties["isv"], {"type": "finish"})
    assert finished["status"] == "applied"


async def post_form(
    base_url: str,
    delivery_id: str,
    fields: dict[str, str],
) -> tuple[int, str, str | None]:
    """POST a page's form as a script would: status, the HTML answer and the redirect."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base_url}/d/{delivery_id}/commands", data=fields, allow_redirects=False
        ) as response,
    ):
        return response.status, await response.text(), response.headers.get("Location")


def form_fields(settings: Settings, token: str, delivery_id: str, **fields: str) -> dict[str, str]:
    return {"t": token, "csrf": csrf_token(settings, token, delivery_id), **fields}


async def wait_for_outcome(page: Page, text: str) -> None:
    """The page refreshes itself while the command is pending; wait for its outcome."""
    await expect(page.locator("#outcome")).to_contain_text(text)
