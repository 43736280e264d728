"""The scorecards in a real browser (issue 18): the administrators' table of every ISV, sorted
by clicking a heading, one ISV's scorecard with its two charts, and the ISV's own list with
its section; no script runs and the pages' Content-Security-Policy refuses nothing.

Six months of an ISV's deliveries cannot be walked in a test: their facts are filed by hand
through the read model (``ScorecardBook.record``, as the workflow's relay files them), then
the table is refreshed (as the timers service does).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Page, expect
from pymongo import AsyncMongoClient

from services.runtime.links import admin_url
from services.runtime.list_links import list_url
from services.runtime.scorecards import ScorecardBook
from shared.config import Settings
from shared.domain.delivery_facts import DeliveryFacts
from shared.domain.score_periods import Period
from shared.domain.states import ProcessName, State
from tests.browser.support import open_delivery
from tests.integration.client import Api

HOUR = 3600.0
DAY = 24 * HOUR
#: Per 30-day period, oldest first: how the ISV's deliveries went (good: the customer
#: confirmed; late: the clock confirmed after a revision round; bad: terminated after a
#: dispute), so the trend climbs with a dip.
SIX_MONTHS = [
    ("good", "bad", "late"),
    ("good", "late", "late", "good"),
    ("bad", "late", "good"),
    ("good", "good", "late", "good"),
    ("good", "good", "good", "late"),
    ("good", "good", "good", "good", "late"),
]


@pytest.fixture
async def book(settings: Settings) -> AsyncIterator[ScorecardBook]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        yield ScorecardBook(client[settings.mongo_db])
    finally:
        await client.close()


def facts(isv: str, opened: datetime, kind: str, n: int, pace: float) -> DeliveryFacts:
    """One delivery's facts: a process by turns, its ISV-owned states taking ``pace`` times
    a base time (varied by ``n``)."""
    process = [ProcessName.BASIC, ProcessName.CONTRACT, ProcessName.STEPWISE][n % 3]
    spread = 1 + (n % 4) / 3
    in_state = {
        ProcessName.BASIC: {"in_delivery": 3 * DAY},
        ProcessName.CONTRACT: {"awaiting_contract": 20 * HOUR, "in_delivery": 4 * DAY},
        ProcessName.STEPWISE: {
            "functional_design": 2 * DAY,
            "ued": 30 * HOUR,
            "development_testing": 6 * DAY,
        },
    }[process]
    stages = (
        {"functional_design": 3 * DAY, "ued": 2 * DAY, "development_testing": 8 * DAY}
        if process == ProcessName.STEPWISE
        else {}
    )
    how = {
        "good": {"state": State.COMPLETED, "confirmed_by": "customer"},
        "late": {"state": State.COMPLETED, "confirmed_by": "automatic", "revision_rounds": 1},
        "bad": {"state": State.TERMINATED, "disputed": True, "terminated_after_dispute": True},
    }[kind]
    return DeliveryFacts(
        delivery_id=uuid.uuid4().hex,
        isv_id=isv,
        process=process,
        opened_at=opened,
        version=6,
        seconds_in_state={k: v * pace * spread for k, v in in_state.items()},
        seconds_in_stage={k: v * pace * spread for k, v in stages.items()},
        **how,
    )


async def six_months_of(book: ScorecardBook, isv: str, now: datetime, pace: float) -> None:
    for period, kinds in enumerate(SIX_MONTHS):
        for n, kind in enumerate(kinds):
            opened = now - timedelta(days=30 * (5 - period) + 2 + 5 * n)
            await book.record(facts(isv, opened, kind, n + period, pace))


def no_policy_violations(page: Page) -> list[str]:
    """Console messages of the page that say the Content-Security-Policy refused something
    (a style attribute, a script): filled while the page is used."""
    refused: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused" in message.text:
            refused.append(message.text)

    page.on("console", seen)
    return refused


async def test_the_admin_sorts_the_isvs_table_and_opens_one_scorecard(
    page: Page, settings: Settings, book: ScorecardBook, screenshots: Path
):
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    steady, slow = f"acme-web-{tag}", f"slowpoke-{tag}"
    await six_months_of(book, steady, now, pace=1.0)
    await six_months_of(book, slow, now, pace=2.5)
    for n, kind in enumerate(("bad", "late", "bad")):  # the slow one's latest period is poor
        await book.record(facts(slow, now - timedelta(days=1 + n), kind, n, 2.5))
    await book.refresh_table(Period.ending(now.date()), now, settings.confirm_window)
    refused = no_policy_violations(page)

    await page.goto(admin_url(settings))
    await page.get_by_role("link", name="ISV scorecards").click()
    table = page.locator("#scorecards")
    await expect(table).to_be_visible()
    await expect(page.locator("#scorecards-as-of")).to_contain_text("As of")
    await expect(page.locator("th[aria-sort=descending]")).to_contain_text("Score")
    names = await table.locator("tbody th a").all_inner_texts()
    assert names.index(steady) < names.index(slow), "best score first"
    row = table.locator("tr", has=page.get_by_role("link", name=slow, exact=True))
    await expect(row.locator(".trend")).to_have_text(re.compile(r"^[▲▼=] |^new$"))
    await page.screenshot(path=screenshots / "scorecard-admin-table.png", full_page=True)

    # One click on the heading: lowest first, said by aria-sort.
    await page.locator("#sort-score").click()
    await expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Score")
    names = await table.locator("tbody th a").all_inner_texts()
    assert names.index(slow) < names.index(steady)

    # The ISV's name opens its scorecard: the score, its parts, two charts with their numbers.
    await page.get_by_role("link", name=steady, exact=True).click()
    await expect(page.locator("h1")).to_contain_text(steady)
    await expect(page.locator("#score-total")).to_have_text(re.compile(r"^\d"))
    await expect(page.locator("#score-components tbody tr")).to_have_count(5)
    trend = page.get_by_role("img", name="Score per 30-day period, the last 6")
    await expect(trend).to_be_visible()
    await expect(trend.locator("rect.bar")).to_have_count(6)
    bars = page.get_by_role("img", name="Median time in each of the ISV's states")
    await expect(bars).to_be_visible()
    await expect(page.locator("#score-trend-data tbody tr")).to_have_count(6)
    await expect(page.locator("#time-in_delivery")).to_be_visible()
    await expect(page.locator("#stage-functional_design")).to_be_visible()
    box = await trend.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 80, "the chart is drawn at size"
    await page.screenshot(path=screenshots / "scorecard-admin-isv.png", full_page=True)

    # Another period, by the form: a month without deliveries has no score.
    await page.get_by_label("From (UTC day)").fill("2020-01-01")
    await page.get_by_label("To (included)").fill("2020-01-31")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#score-total")).to_have_text("no score")
    assert refused == []


async def test_the_isv_sees_its_scorecard_on_its_own_list(
    api: Api, parties, page: Page, settings: Settings, book: ScorecardBook, screenshots: Path
):
    now = datetime.now(UTC)
    isv = parties["isv"].sub
    await open_delivery(api, parties)  # a delivery of its own in the list
    await six_months_of(book, isv, now, pace=1.4)
    # The marketplace's medians come from the table (every ISV), as refreshed.
    await book.refresh_table(Period.ending(now.date()), now, settings.confirm_window)
    refused = no_policy_violations(page)

    await page.goto(list_url(settings, isv, "isv"))
    section = page.locator("#scorecard")
    await expect(section).to_contain_text("Delivery score")
    await expect(section.locator("#score-trend-mark")).to_be_visible()
    await expect(section.get_by_role("img")).to_have_count(2)
    await expect(section.locator("#figure-opened dd")).to_have_text(re.compile(r"\d"))
    await expect(section.locator("#time-in_delivery td").last).not_to_have_text("no data")
    await page.screenshot(path=screenshots / "scorecard-isv.png", full_page=True)
    # A phone's width: the charts shrink to fit, nothing runs off the side.
    await page.set_viewport_size({"width": 390, "height": 844})
    for chart in await section.get_by_role("img").all():
        box = await chart.bounding_box()
        assert box and box["width"] <= 390
    await page.screenshot(path=screenshots / "scorecard-isv-phone.png", full_page=True)
    assert refused == []

    # The customer's list has no scorecard.
    await page.goto(list_url(settings, parties["customer"].sub, "customer"))
    await expect(page.locator("h1")).to_be_visible()
    await expect(page.locator("#scorecard")).to_have_count(0)
