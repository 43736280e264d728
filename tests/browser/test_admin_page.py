"""The administrators' list: disputes first, filters, and terminate / resolve through the
same command path as the API."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.async_api import Page, expect
from pymongo.errors import DuplicateKeyError

from services.runtime.collections import DELIVERY_DAYS
from services.runtime.delivery_days import UPDATED_DAY, day_fields
from services.runtime.links import admin_url, page_url
from shared.config import Settings
from shared.domain.delivery import Delivery
from tests.browser.support import CONTACT, open_delivery, wait_for_outcome
from tests.integration.client import Api


async def test_admin_resolves_a_dispute_and_terminates_a_delivery(
    api: Api, parties, page: Page, settings: Settings, screenshots: Path
):
    customer = parties["customer"]
    disputed = await open_delivery(api, parties)
    quiet = await open_delivery(api, {**parties, "customer": api.party("customer")})
    body = {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"}
    assert (await api.command(disputed["delivery_id"], customer, body))["status"] == "applied"

    # The customer opens a dispute from their page.
    await page.goto(page_url(settings, disputed["delivery_id"], customer.sub, "customer"))
    form = page.locator("#act-open_dispute")
    await form.get_by_label("Why").fill("Nobody has answered my emails for a week.")
    await form.get_by_role("button", name="Open a dispute").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#turn")).to_contain_text("A dispute is open")
    await expect(page.locator("form.action")).to_have_count(0)

    # The admin sees it first in the list.
    await page.goto(admin_url(settings))
    rows = await page.locator("#deliveries tbody tr").evaluate_all(
        "rows => rows.map(row => [row.id, row.querySelector('.tag.dispute') !== null])"
    )
    flags = [flag for _, flag in rows]
    assert flags == sorted(flags, reverse=True), "open disputes come first"
    assert [f"row-{disputed['delivery_id']}", True] in rows
    first = page.locator(f"#row-{disputed['delivery_id']}")
    await expect(first).to_contain_text("Nobody has answered my emails")
    await page.screenshot(path=screenshots / "07-admin-list.png", full_page=True)
    resolve = first.locator(f"#d{disputed['delivery_id']}-act-resolve_dispute")
    await resolve.get_by_label("the delivery continues").check()
    await resolve.get_by_label("Note").fill("The ISV confirmed by phone they are on it.")
    await resolve.get_by_role("button", name="Resolve the dispute").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#outcome")).to_contain_text(disputed["delivery_id"])
    delivery = await api.delivery(disputed["delivery_id"], customer)
    assert delivery["dispute"]["status"] == "resolved" and delivery["state"] == "in_delivery"
    assert delivery["history"][-1]["actor"] == {"id": "admin", "role": "admin"}

    # Terminate the other one, with a reason.
    row = page.locator(f"#row-{quiet['delivery_id']}")
    await row.locator("summary", has_text="Terminate the delivery").click()
    terminate = row.locator(f"#d{quiet['delivery_id']}-act-terminate")
    await terminate.get_by_label("Reason").fill("The order was refunded.")
    await terminate.get_by_role("button", name="Terminate").click()
    await wait_for_outcome(page, "Done")
    await page.goto(admin_url(settings) + "&state=terminated")
    await expect(page.locator(f"#row-{quiet['delivery_id']}")).to_contain_text("terminated")
    states = await page.locator("#deliveries tbody tr td:nth-child(3)").all_inner_texts()
    assert states and all("(terminated)" in state for state in states)
    await expect(page.locator(f"#row-{disputed['delivery_id']}")).to_have_count(0)

    # The admin's link opens any delivery's page, with the admin's actions.
    await page.goto(admin_url(settings))
    await page.locator(f"#row-{disputed['delivery_id']} a").first.click()
    await expect(page.locator("h1")).to_contain_text(disputed["order_spec"])
    await expect(page.locator("#act-terminate")).to_be_visible()
    await expect(page.locator("#act-resolve_dispute")).to_have_count(0)


async def test_admin_filters_overdue_deliveries(api: Api, parties, page: Page, settings, db):
    fresh = await open_delivery(api, parties)
    # A delivery nobody touched for three weeks, as if the system had run that long.
    long_ago = datetime.now(UTC) - timedelta(days=21)
    stale = Delivery(
        delivery_id="0" * 24 + long_ago.strftime("%H%M%S%f")[:8],
        order_id="order-stale",
        order_spec="An old order",
        product_id="prod-website",
        process="basic",
        state="in_delivery",
        version=2,
        customer_id="customer-stale",
        customer_email="stale@customer.example.com",
        isv_id="isv-stale",
        isv_email="stale@isv.example.com",
        opened_at=long_ago,
        updated_at=long_ago,
    )
    # Stored as the workflow stores a delivery: with its days, and its day among the active
    # ones, or the admin list (which walks the days) would never reach it.
    days = day_fields(
        stale.opened_at, stale.updated_at, state=stale.state.value, isv_id=stale.isv_id
    )
    with contextlib.suppress(DuplicateKeyError):
        db[DELIVERY_DAYS].insert_one({"_id": days[UPDATED_DAY]})
    db.deliveries.insert_one(
        {"_id": stale.delivery_id, **stale.model_dump(), **days, "revision": 1, "outbox": []}
    )
    await page.goto(admin_url(settings) + "&overdue=1")
    row = page.locator(f"#row-{stale.delivery_id}")
    await expect(row.locator(".tag.overdue")).to_be_visible()
    await expect(row).to_contain_text("nothing has happened for 21 days")
    await expect(page.locator(f"#row-{fresh['delivery_id']}")).to_have_count(0)
    await expect(page.get_by_label("only overdue")).to_be_checked()
    # An unknown state is said so, not an error.
    await page.goto(admin_url(settings) + "&state=lost")
    await expect(page.locator("body")).to_contain_text("There is no state “lost”")
