"""A customer in Shanghai who reads Chinese and an ISV in Berlin who reads English: each gets
emails and pages in their language, with the same deadline in their own zone; screenshots of
the Chinese page and the Chinese email show the text renders (fonts-noto-cjk)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.async_api import Page, expect

from shared.config import Settings
from shared.domain.states import State
from shared.wording import STATE_LABELS, reading
from tests.browser.support import about, link_from_email, open_delivery, to_awaiting_confirmation
from tests.integration.client import Api
from tooling.mailsink import MailSink

#: Any character of the CJK Unified Ideographs block.
HAN = re.compile(r"[\u4e00-\u9fff]")
READERS = {
    "customer_locale": "zh-CN",
    "customer_time_zone": "Asia/Shanghai",
    "isv_locale": "en",
    "isv_time_zone": "Europe/Berlin",
}


def in_shanghai(moment: datetime) -> str:
    """How a Chinese reader in Shanghai reads ``moment``, written out by hand (CLDR's zh
    date order; Shanghai is UTC+8 all year)."""
    local = moment.astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} (中国标准时间)"


def in_berlin(moment: datetime) -> str:
    """How an English reader in Berlin reads ``moment``, written out by hand."""
    local = moment.astimezone(ZoneInfo("Europe/Berlin"))
    season = "Summer" if local.dst() else "Standard"
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} Central European {season} Time"


async def test_each_party_reads_in_their_language_and_zone(
    api: Api, parties, page: Page, settings: Settings, mail: MailSink, screenshots: Path
):
    customer = parties["customer"]
    opened = await open_delivery(api, parties, **READERS)
    delivery_id = opened["delivery_id"]
    await to_awaiting_confirmation(api, parties, delivery_id)
    shown = await api.delivery(delivery_id, customer)
    [window] = [d for d in shown["deadlines"] if d["kind"] == "confirmation_window"]
    due = datetime.fromisoformat(window["due_at"])

    # Emails: opened, demands submitted, step finished; the third asks to confirm.
    to_customer = await mail.wait_for_async(about(delivery_id, opened["customer_email"]), count=3)
    to_isv = await mail.wait_for_async(about(delivery_id, opened["isv_email"]), count=3)
    chinese, english = to_customer[2], to_isv[2]
    assert HAN.search(chinese["Subject"]) and delivery_id in chinese["Subject"]
    assert not HAN.search(english["Subject"]) and delivery_id in english["Subject"]
    chinese_text = chinese.get_body(("plain",)).get_content()
    english_text = english.get_body(("plain",)).get_content()
    assert in_shanghai(due) in chinese_text, chinese_text
    assert in_berlin(due) in english_text, english_text
    for fact in (delivery_id, opened["order_id"], opened["product_id"]):
        assert fact in chinese_text and fact in english_text
    chinese_html = chinese.get_body(("html",)).get_content()
    assert 'lang="zh-CN"' in chinese_html

    # The customer's page opens in Chinese, with the deadline in Shanghai time.
    link = await link_from_email(
        mail, settings, delivery_id, opened["customer_email"], customer, "confirm", count=3
    )
    await page.goto(link)
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    with reading("zh-CN", "Asia/Shanghai"):
        state = STATE_LABELS[State.AWAITING_CONFIRMATION]
    await expect(page.locator('[aria-current="step"]')).to_contain_text(state)
    await expect(page.locator("body")).to_contain_text(in_shanghai(due))
    await page.screenshot(path=screenshots / "21-zh-delivery-page.png", full_page=True)

    # The Chinese email as a mail reader shows its HTML part.
    await page.set_content(chinese_html)
    await expect(page.locator("h1")).to_contain_text(HAN)
    await page.screenshot(path=screenshots / "22-zh-email.png", full_page=True)
