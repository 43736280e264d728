"""One click from the email: the delivery page, its signed links and its forms, in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

from playwright.async_api import Page, expect

from services.runtime.links import page_url, sign_link
from shared.config import Settings
from tests.browser.support import (
    CONTACT,
    PDF,
    PNG,
    form_fields,
    link_from_email,
    open_delivery,
    post_form,
    to_awaiting_confirmation,
    token_of,
    wait_for_outcome,
)
from tests.integration.client import Api
from tests.integration.system import System
from tooling.mailsink import MailSink


async def test_customer_and_isv_deliver_from_their_email_links(
    api: Api, parties, page: Page, settings: Settings, mail: MailSink, screenshots: Path
):
    customer, isv = parties["customer"], parties["isv"]
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]

    # The customer follows the link in the email that asks for the demands.
    link = await link_from_email(
        mail, settings, delivery_id, opened["customer_email"], customer, "submit_demand"
    )
    response = await page.goto(link)
    assert response is not None and response.status == 200
    facts = page.locator("aside.facts")
    for fact in (opened["order_id"], opened["order_spec"], delivery_id, opened["product_id"]):
        await expect(facts).to_contain_text(fact)
    await expect(page.locator('[aria-current="step"]')).to_contain_text("Submit demand")
    await expect(page.locator("#turn")).to_contain_text("Your turn: submit your demands")
    form = page.locator("#act-submit_demand")
    await form.get_by_label("Contact name").fill(CONTACT["name"])
    await form.get_by_label("Phone").fill(CONTACT["phone"])
    await form.get_by_label("Email").fill(CONTACT["email"])
    await form.get_by_label("Demands").fill("Five pages, a contact form, delivered by May.")
    await form.get_by_label("Attachments").set_input_files(
        [{"name": "sketch.png", "mimeType": "image/png", "buffer": PNG}]
    )
    await page.screenshot(path=screenshots / "01-customer-submits-demand.png", full_page=True)
    await form.get_by_role("button", name="Submit the demands").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#state")).to_contain_text("in_delivery")
    await expect(facts).to_contain_text(CONTACT["phone"])
    attachment = page.locator("#attachments a", has_text="sketch.png")
    href = await attachment.get_attribute("href")
    assert href is not None
    downloaded = await page.request.get(urljoin(page.url, href))
    assert downloaded.status == 200 and await downloaded.body() == PNG

    # The ISV follows theirs and presses Finish.
    link = await link_from_email(
        mail, settings, delivery_id, opened["isv_email"], isv, "finish", count=2
    )
    await page.goto(link)
    await expect(page.locator('[aria-current="step"]')).to_contain_text("Delivery")
    form = page.locator("#act-finish")
    await form.get_by_label("Note for the customer").fill("The site is live at https://example.com")
    await page.screenshot(path=screenshots / "02-isv-finishes.png", full_page=True)
    await form.get_by_role("button", name="Finish").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#state")).to_contain_text("awaiting_confirmation")

    # The customer confirms from the link that asks for it.
    link = await link_from_email(
        mail, settings, delivery_id, opened["customer_email"], customer, "confirm", count=3
    )
    await page.goto(link)
    await expect(page.locator("#act-confirm")).to_be_visible()
    deadlines = page.locator("#deadlines")
    await expect(deadlines).to_contain_text(
        # shared/wording.py: "Wed 9 Dec 2026, 12:00 UTC (in 14 days)", rounded to the nearest day
        re.compile(
            r"Confirmed automatically on "
            r"\w{3} \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC \(in 14 days\)"
        )
    )
    stages = page.get_by_role("region", name="Deliverables")
    await expect(stages).to_contain_text("The site is live at https://example.com")
    await page.screenshot(path=screenshots / "03-customer-before-confirming.png", full_page=True)
    await page.locator("#act-confirm").get_by_role("button", name="Confirm").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#state")).to_contain_text("completed")
    await expect(page.locator("#turn")).to_contain_text("completed")
    await expect(page.locator("form.action")).to_have_count(0)
    await expect(page.locator("ol.steps li.done")).to_have_count(3)
    await expect(page.locator("#history tbody tr")).to_have_count(4)
    await page.screenshot(path=screenshots / "04-customer-after-confirming.png", full_page=True)

    # The same page at phone width: nothing wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=screenshots / "05-customer-phone-width.png", full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "completed" and delivery["version"] == 4
    assert [(h["actor"]["role"], h["actor"]["id"]) for h in delivery["history"][1:]] == [
        ("customer", customer.sub),
        ("isv", isv.sub),
        ("customer", customer.sub),
    ]
    assert [a["filename"] for a in delivery["attachments"]] == ["sketch.png"]
    assert delivery["contact"] == CONTACT


async def test_a_changed_link_is_refused(
    api: Api, parties, page: Page, settings: Settings, screenshots: Path
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    token = sign_link(settings, delivery_id, parties["customer"].sub, "customer")
    payload, signature = token.rsplit(".", 1)
    changed = f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    base = page_url(settings, delivery_id, parties["customer"].sub, "customer")
    for bad in (changed, token[:-6], "nonsense", ""):
        response = await page.goto(base.replace(token_of(base), bad) if bad else base.split("?")[0])
        assert response is not None and response.status == 403, bad
        await expect(page.locator("h1")).to_have_text("This link is not valid")
        await expect(page.locator("body")).to_contain_text("every email carries a fresh one")
    await page.screenshot(path=screenshots / "08-changed-link-refused.png")
    # A link signed with another secret is no better.
    forged = sign_link(
        settings.model_copy(update={"link_secret": "a-guess"}), delivery_id, "x", "customer"
    )
    response = await page.goto(base.replace(token_of(base), forged))
    assert response is not None and response.status == 403


async def test_an_expired_link_is_refused(api: Api, parties, page: Page, settings: Settings):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    long_ago = datetime.now(UTC) - settings.link_ttl - timedelta(minutes=5)
    token = sign_link(
        settings, delivery_id, parties["customer"].sub, "customer", signed_at=long_ago
    )
    base = page_url(settings, delivery_id, parties["customer"].sub, "customer")
    response = await page.goto(base.replace(token_of(base), token))
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("This link has expired")
    await expect(page.locator("body")).to_contain_text("Links are valid for 30 days")
    # Just within its lifetime, the same link opens the page.
    recent = datetime.now(UTC) - settings.link_ttl + timedelta(minutes=5)
    token = sign_link(settings, delivery_id, parties["customer"].sub, "customer", signed_at=recent)
    response = await page.goto(base.replace(token_of(base), token))
    assert response is not None and response.status == 200


async def test_a_link_opens_only_its_own_delivery_as_its_own_party(
    api: Api, parties, page: Page, settings: Settings, system: System
):
    mine = await open_delivery(api, parties)
    other_parties = {**parties, "customer": api.party("customer"), "isv": api.party("isv")}
    other = await open_delivery(api, other_parties)
    # The other delivery's customer link, used on this delivery's page.
    theirs = page_url(settings, other["delivery_id"], other_parties["customer"].sub, "customer")
    response = await page.goto(theirs.replace(other["delivery_id"], mine["delivery_id"], 1))
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("This link is for another delivery")
    # A correctly signed link for this delivery, but for someone who is not its customer.
    stranger = page_url(settings, mine["delivery_id"], other_parties["customer"].sub, "customer")
    response = await page.goto(stranger)
    assert response is not None and response.status == 403
    await expect(page.locator("body")).to_contain_text("not a party of this delivery")
    # The ISV's link is the ISV's: it shows no customer action.
    isv_link = page_url(settings, mine["delivery_id"], parties["isv"].sub, "isv")
    response = await page.goto(isv_link)
    assert response is not None and response.status == 200
    await expect(page.locator("#act-submit_demand")).to_have_count(0)
    await expect(page.locator("#turn")).to_contain_text("Waiting for the customer")
    # A party's link does not open the administrators' list.
    response = await page.goto(f"{system.base_url}/admin?t={token_of(isv_link)}")
    assert response is not None and response.status == 403


async def test_following_an_action_link_changes_nothing(
    api: Api, parties, page: Page, settings: Settings, system: System, db
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    await to_awaiting_confirmation(api, parties, delivery_id)
    before = db.deliveries.find_one({"_id": delivery_id})
    commands_before = db.commands.count_documents({"delivery_id": delivery_id})
    link = page_url(settings, delivery_id, parties["customer"].sub, "customer", action="confirm")
    scanned = await page.request.get(link)  # a mail scanner fetches it first
    assert scanned.status == 200 and "act-confirm" in await scanned.text()
    response = await page.goto(link)  # then the person opens it
    assert response is not None and response.status == 200
    await page.reload()
    confirm = page.locator("#act-confirm")
    await expect(confirm).to_have_class(re.compile(r"\bready\b"))
    await expect(confirm).to_contain_text("This is what your link is for")
    await expect(page.locator("#outcome")).to_have_count(0)
    # A link for an action that is not possible now says so, and does nothing either.
    await page.goto(
        page_url(settings, delivery_id, parties["customer"].sub, "customer", action="submit_demand")
    )
    await expect(page.locator("body")).to_contain_text("which is not possible now")
    # The gateway records a command before publishing it: no record, nothing sent, ever.
    assert db.commands.count_documents({"delivery_id": delivery_id}) == commands_before
    after = db.deliveries.find_one({"_id": delivery_id})
    assert after["version"] == before["version"] and after["state"] == "awaiting_confirmation"


async def test_a_press_without_the_form_token_is_refused(
    api: Api, parties, settings: Settings, system: System, db
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    await to_awaiting_confirmation(api, parties, delivery_id)
    version = db.deliveries.find_one({"_id": delivery_id})["version"]
    link = page_url(settings, delivery_id, parties["customer"].sub, "customer")
    token = token_of(link)
    other = await open_delivery(
        api, {**parties, "customer": api.party("customer"), "isv": api.party("isv")}
    )
    for fields in (
        {"t": token, "type": "confirm"},
        {"t": token, "type": "confirm", "csrf": ""},
        {"t": token, "type": "confirm", "csrf": "0" * 64},
        {**form_fields(settings, token, other["delivery_id"]), "type": "confirm"},
    ):
        status, html, location = await post_form(system.base_url, delivery_id, fields)
        assert status == 403 and location is None, fields
        assert "security token is missing or wrong" in html
    # Without the link token, or with a changed one, neither.
    good = form_fields(settings, token, delivery_id, type="confirm")
    for bad_token in ("", token[:-3] + "abc"):
        status, _, _ = await post_form(system.base_url, delivery_id, {**good, "t": bad_token})
        assert status == 403
    # The gateway records a command before publishing it: no record, nothing sent, ever.
    assert db.commands.count_documents({"delivery_id": delivery_id, "type": "confirm"}) == 0
    assert db.deliveries.find_one({"_id": delivery_id})["version"] == version
    # The same press with its token goes through.
    status, _, location = await post_form(system.base_url, delivery_id, good)
    assert status == 303 and location is not None and "command=" in location


async def test_bad_input_is_shown_next_to_its_field_and_sends_nothing(
    api: Api, parties, page: Page, settings: Settings, system: System, db, screenshots: Path
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    link = page_url(
        settings, delivery_id, parties["customer"].sub, "customer", action="submit_demand"
    )
    await page.goto(link)
    form = page.locator("#act-submit_demand")
    await form.get_by_label("Contact name").fill("Ann Buyer")
    await form.get_by_label("Phone").fill("call me maybe")
    await form.get_by_label("Email").fill("ann@customer.example.com")
    await form.get_by_label("Demands").fill("Five pages")
    async with page.expect_navigation() as navigation:
        await form.get_by_role("button", name="Submit the demands").click()
    response = await navigation.value
    assert response is not None and response.status == 422
    error = page.locator("#err-submit_demand-contact_phone")
    await expect(error).to_contain_text("Write a phone number")
    await expect(page.locator("#submit_demand-contact_phone")).to_have_attribute(
        "aria-invalid", "true"
    )
    # What was typed is still there.
    await expect(page.locator("#submit_demand-contact_name")).to_have_value("Ann Buyer")
    await expect(page.locator("#submit_demand-demands")).to_have_value("Five pages")
    await page.screenshot(path=screenshots / "06-customer-input-error.png", full_page=True)
    # An empty file is refused before anything is kept.
    form = page.locator("#act-submit_demand")
    await form.get_by_label("Phone").fill("+1 555 0100")
    await form.get_by_label("Attachments").set_input_files(
        [{"name": "empty.txt", "mimeType": "text/plain", "buffer": b""}]
    )
    await form.get_by_role("button", name="Submit the demands").click()
    await expect(page.locator("#err-submit_demand-file")).to_have_text(
        "The file empty.txt is empty"
    )

    # Empty required fields, sent past the browser's own checks.
    fields = form_fields(settings, token_of(link), delivery_id, type="submit_demand")
    status, html, _ = await post_form(system.base_url, delivery_id, fields)
    assert status == 422
    assert html.count("Required: please fill this in") == 4
    # The gateway records a command before publishing it: no record, nothing sent, ever.
    sent = {"delivery_id": delivery_id, "type": {"$ne": "open_delivery"}}
    assert db.commands.count_documents(sent) == 0
    assert db.deliveries.find_one({"_id": delivery_id})["version"] == 1
    assert db.attachments.count_documents({"delivery_id": delivery_id}) == 0


async def test_a_refused_press_is_shown_in_words(
    api: Api, parties, page: Page, settings: Settings, system: System
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    customer = parties["customer"]
    token = token_of(page_url(settings, delivery_id, customer.sub, "customer"))
    # Nothing to confirm yet: the page offers no such button, a stale page or a script may try.
    fields = form_fields(settings, token, delivery_id, type="confirm")
    status, _, location = await post_form(system.base_url, delivery_id, fields)
    assert status == 303 and location is not None
    await page.goto(urljoin(system.base_url, location))
    await wait_for_outcome(page, "Not done")
    await expect(page.locator("#outcome")).to_contain_text(
        "confirm is not possible while the delivery is awaiting_demand"
    )
    await expect(page.locator("#refusals")).to_contain_text("wrong_state")
    # What a role may never do is refused at once, in words, and nothing is sent.
    isv_token = token_of(page_url(settings, delivery_id, parties["isv"].sub, "isv"))
    fields = form_fields(settings, isv_token, delivery_id, type="confirm")
    status, html, location = await post_form(system.base_url, delivery_id, fields)
    assert status == 422 and location is None
    assert "the ISV cannot confirm here" in html


async def test_the_isv_uploads_the_contract_from_the_page(
    api: Api, parties, page: Page, settings: Settings
):
    opened = await open_delivery(api, parties, process="contract")
    delivery_id = opened["delivery_id"]
    demands = "Five pages <script>alert(1)</script>"
    body = {"type": "submit_demand", "contact": CONTACT, "demands": demands}
    assert (await api.command(delivery_id, parties["customer"], body))["status"] == "applied"
    isv = parties["isv"]
    await page.goto(page_url(settings, delivery_id, isv.sub, "isv", action="upload_contract"))
    await expect(page.locator('[aria-current="step"]')).to_contain_text("Contract")
    # What people typed is shown as text, never as markup.
    await expect(page.get_by_role("region", name="Demands")).to_contain_text(demands)
    form = page.locator("#act-upload_contract")
    # A PNG named .pdf: the workflow judges the file by its bytes and says why not.
    await form.get_by_label("Contract file").set_input_files(
        [{"name": "contract.pdf", "mimeType": "application/pdf", "buffer": PNG}]
    )
    await form.get_by_role("button", name="Upload the contract").click()
    await wait_for_outcome(page, "Not done")
    await expect(page.locator("#outcome")).to_contain_text("name and content must agree")
    form = page.locator("#act-upload_contract")
    await form.get_by_label("Contract file").set_input_files(
        [{"name": "contract.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await form.get_by_role("button", name="Upload the contract").click()
    await wait_for_outcome(page, "Done")
    await expect(page.locator("#state")).to_contain_text("in_delivery")
    contract = page.get_by_role("link", name="contract.pdf")
    href = await contract.get_attribute("href")
    assert href is not None
    downloaded = await page.request.get(urljoin(page.url, href))
    assert downloaded.status == 200 and await downloaded.body() == PDF
    assert downloaded.headers["content-type"] == "application/pdf"
    # The customer's link fetches it too; a changed token does not.
    customer_token = token_of(page_url(settings, delivery_id, parties["customer"].sub, "customer"))
    as_customer = await page.request.get(
        urljoin(page.url, href.split("?")[0] + f"?t={customer_token}")
    )
    assert as_customer.status == 200
    refused = await page.request.get(
        urljoin(page.url, href.split("?")[0] + "?t=x" + customer_token)
    )
    assert refused.status == 403


async def test_a_pending_command_refreshes_the_page_until_it_has_an_outcome(
    api: Api, parties, page: Page, settings: Settings, db
):
    opened = await open_delivery(api, parties)
    delivery_id = opened["delivery_id"]
    customer = parties["customer"]
    link = page_url(settings, delivery_id, customer.sub, "customer")
    actor = {"id": customer.sub, "role": "customer"}
    # Accepted commands whose outcome the workflow has not recorded (yet).
    now = datetime.now(UTC)
    for command_id, accepted_at in (
        ("pending-now", now),
        ("pending-long", now - timedelta(minutes=5)),
    ):
        db.commands.insert_one(
            {
                "_id": command_id,
                "delivery_id": delivery_id,
                "type": "confirm",
                "actor": actor,
                "body_hash": "-",
                "accepted_at": accepted_at,
            }
        )
    await page.goto(link + "&command=pending-now")
    await expect(page.locator("#outcome")).to_contain_text("Sending")
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_attribute("content", "1")
    # The page keeps refreshing; once the outcome is there it shows it and stops.
    db.command_outcomes.insert_one(
        {
            "_id": "pending-now",
            "delivery_id": delivery_id,
            "type": "confirm",
            "actor": actor,
            "status": "rejected",
            "reason": "wrong_state",
            "message": "confirm is not possible while the delivery is awaiting_demand",
            "decided_at": now,
        }
    )
    await wait_for_outcome(page, "Not done")
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    # After a minute without an outcome it says so, and stops refreshing.
    await page.goto(link + "&command=pending-long")
    await expect(page.locator("#outcome")).to_contain_text("Still waiting")
    await expect(page.locator('meta[http-equiv="refresh"]')).to_have_count(0)
    # Someone else's command, or one of another delivery, is not shown at all.
    other = page_url(settings, delivery_id, parties["isv"].sub, "isv")
    await page.goto(other + "&command=pending-now")
    await expect(page.locator("#outcome")).to_have_count(0)
