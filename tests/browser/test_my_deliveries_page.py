"""Each party's own list (/me) in Chromium: opened from the link an email carries, filtered
and searched with its plain form, one click from a row to that delivery's page."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, expect

from shared.config import Settings
from tests.browser.support import CONTACT, about, open_delivery, to_awaiting_confirmation
from tests.integration.client import Api
from tooling.mailsink import MailSink

_LIST_LINK = re.compile(r"https?://[^\s\"'<>]+/me\?t=[^\s\"'<>]+")


async def _list_link_from_email(mail: MailSink, delivery_id: str, to: str) -> str:
    [message, *_] = await mail.wait_for_async(about(delivery_id, to))
    found = _LIST_LINK.search(message.get_body(("plain",)).get_content())
    assert found, "the email carries a link to the reader's list"
    return found.group(0)


def _refusals(page: Page) -> list[str]:
    """What the browser refused under the page's Content-Security-Policy, as it happens."""
    refused: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            refused.append(message.text)

    page.on("console", seen)
    return refused


async def test_a_party_works_from_their_list(
    api: Api, parties, page: Page, settings: Settings, mail: MailSink, screenshots: Path
):
    customer = parties["customer"]
    new = await open_delivery(api, parties)
    in_delivery = await open_delivery(api, parties, product_id="prod-landing-page")
    body = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
    assert (await api.command(in_delivery["delivery_id"], customer, body))["status"] == "applied"
    to_confirm = await open_delivery(api, parties)
    await to_awaiting_confirmation(api, parties, to_confirm["delivery_id"])
    refused = _refusals(page)

    # The customer follows "All your deliveries" from the first email.
    link = await _list_link_from_email(mail, new["delivery_id"], new["customer_email"])
    response = await page.goto(link)
    assert response is not None and response.status == 200
    assert "default-src 'none'" in (await response.all_headers())["content-security-policy"]
    await expect(page.locator("h1")).to_have_text("Your deliveries")
    await expect(page.locator("#counts")).to_have_text("2 deliveries wait for you.")
    yours = page.locator("#you tbody tr")
    await expect(yours).to_have_count(2)
    # The one with a deadline first, saying when it confirms itself.
    await expect(yours.first).to_contain_text(to_confirm["order_id"])
    await expect(yours.first).to_contain_text("Automatic confirmation:")
    await expect(yours.first).to_contain_text(
        "Your turn: confirm the delivery, or ask for changes."
    )
    await expect(yours.last).to_contain_text("Your turn: submit your demands")
    others = page.locator("#other tbody tr")
    await expect(others).to_have_count(1)
    await expect(others).to_contain_text("Waiting for the ISV to deliver the service.")
    await expect(page.locator("#done")).to_have_count(0)
    await page.screenshot(path=screenshots / "me-customer-list.png", full_page=True)

    # The form filters by state, with a plain GET: only the new delivery is left.
    await page.get_by_label("State").select_option("awaiting_demand")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"/me\?t=[^&]+&state=awaiting_demand"))
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text(new["order_id"])
    await expect(page.locator("#counts")).to_have_text("2 deliveries wait for you.")

    # A search by product ID, the state filter taken off.
    await page.get_by_label("State").select_option("")
    await page.get_by_role("textbox", name=re.compile(r"^Search")).fill("prod-landing-page")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr")).to_contain_text(in_delivery["order_id"])
    await page.screenshot(path=screenshots / "me-customer-search.png", full_page=True)
    await page.get_by_role("link", name="Show every delivery").click()
    await expect(page.locator("tbody tr")).to_have_count(3)

    # One click from a row: that delivery's page, as the customer, its next step ready.
    await page.locator(f"#row-{new['delivery_id']} a").click()
    await expect(page.locator("h1")).to_contain_text(new["order_spec"])
    await expect(page.locator("#turn")).to_contain_text("Your turn: submit your demands")
    await expect(page.locator("#act-submit_demand")).to_have_class(re.compile(r"\bready\b"))

    # A phone's width: the table scrolls inside its box, the page does not run off the side.
    await page.go_back()
    await page.set_viewport_size({"width": 390, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await page.screenshot(path=screenshots / "me-customer-phone.png", full_page=True)
    await page.set_viewport_size({"width": 1200, "height": 900})

    # The ISV's list, from its first email about the delivery in its hands: its turn first.
    link = await _list_link_from_email(mail, in_delivery["delivery_id"], in_delivery["isv_email"])
    await page.goto(link)
    await expect(page.locator("#counts")).to_have_text("1 delivery waits for you.")
    await expect(page.locator("#you tbody tr")).to_contain_text(
        "Your turn: deliver the service, then press Finish."
    )
    await expect(page.locator("#other tbody tr")).to_have_count(2)
    await page.screenshot(path=screenshots / "me-isv-list.png", full_page=True)
    assert refused == []
