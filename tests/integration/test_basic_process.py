"""The basic process end to end: HTTP -> RabbitMQ -> workflow -> MongoDB -> notifier -> SMTP."""

from __future__ import annotations

from email.message import EmailMessage

from tests.integration.client import Api
from tooling.mailsink import MailSink

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}


def about(delivery_id: str, to: str):
    def match(message: EmailMessage) -> bool:
        return message["X-Delivery-Id"] == delivery_id and message["To"] == to

    return match


async def test_basic_delivery_runs_from_open_to_completed(api: Api, parties, db, mail: MailSink):
    marketplace, customer, isv = parties["marketplace"], parties["customer"], parties["isv"]
    opened = await api.open_delivery(marketplace, customer, isv)
    delivery_id = opened["delivery_id"]
    customer_email, isv_email = opened["customer_email"], opened["isv_email"]

    document = db.deliveries.find_one({"_id": delivery_id})
    assert document["state"] == "awaiting_demand"
    # The customer must act first: they are asked to submit their demands.
    [invite] = await mail.wait_for_async(about(delivery_id, customer_email))
    assert "submit your demands" in invite.get_body(("plain",)).get_content()

    submitted = await api.command(
        delivery_id,
        customer,
        {"type": "submit_demand", "contact": CONTACT, "demands": "Five pages"},
    )
    assert submitted["status"] == "applied"
    finished = await api.command(delivery_id, isv, {"type": "finish", "note": "Site is live"})
    assert finished["status"] == "applied"
    waiting = await api.delivery(delivery_id, customer)
    assert waiting["state"] == "awaiting_confirmation"
    assert {d["kind"] for d in waiting["deadlines"]} == {"confirmation_window", "reminder"}

    confirmed = await api.command(delivery_id, customer, {"type": "confirm"})
    assert confirmed["status"] == "applied"

    delivery = await api.delivery(delivery_id, customer)
    assert delivery["state"] == "completed"
    assert delivery["version"] == 4
    assert delivery["contact"] == CONTACT
    assert delivery["demands"] == "Five pages"
    assert delivery["deadlines"] == []
    assert [(h["command"], h["from_state"], h["to_state"]) for h in delivery["history"]] == [
        ("open_delivery", None, "awaiting_demand"),
        ("submit_demand", "awaiting_demand", "in_delivery"),
        ("finish", "in_delivery", "awaiting_confirmation"),
        ("confirm", "awaiting_confirmation", "completed"),
    ]
    assert [h["actor"]["role"] for h in delivery["history"]] == [
        "marketplace",
        "customer",
        "isv",
        "customer",
    ]
    assert delivery["stages"][0]["reviews"][0]["outcome"] == "confirmed"

    stored = db.deliveries.find_one({"_id": delivery_id})
    assert stored["state"] == "completed" and stored["version"] == 4
    assert stored["outbox"] == [] or not stored["has_outbox"]

    # The party who must act next was emailed at each step, and the other informed.
    isv_mails = await mail.wait_for_async(about(delivery_id, isv_email), count=4)
    customer_mails = await mail.wait_for_async(about(delivery_id, customer_email), count=4)
    assert len(isv_mails) == len(customer_mails) == 4
    after_demand = [m for m in isv_mails if m["X-Event-Type"] == "demand_submitted"][0]
    assert "deliver the service" in after_demand.get_body(("plain",)).get_content()
    after_finish = [m for m in customer_mails if m["X-Event-Type"] == "stage_finished"][0]
    assert "confirm the delivery" in after_finish.get_body(("plain",)).get_content()
    assert after_finish.get_body(("html",)) is not None
    assert delivery_id[:8] in after_finish["Subject"]


async def test_the_same_order_opens_one_delivery(api: Api, parties):
    marketplace, customer, isv = parties["marketplace"], parties["customer"], parties["isv"]
    opened = await api.open_delivery(marketplace, customer, isv)
    body = {
        k: opened[k]
        for k in (
            "order_id",
            "order_spec",
            "product_id",
            "isv_id",
            "customer_id",
            "customer_email",
            "isv_email",
            "process",
        )
    }
    status, again = await api.request("POST", "/v1/deliveries", marketplace, json=body)
    assert status == 202
    assert again["delivery_id"] == opened["delivery_id"]
    assert again["command_id"] == opened["command_id"]

    status, clash = await api.request(
        "POST", "/v1/deliveries", marketplace, json={**body, "product_id": "another-product"}
    )
    assert status == 409, clash
    assert "product_id" in clash["message"]


async def test_the_confirmation_window_confirms_by_itself(api: Api, parties, mail: MailSink):
    marketplace, customer, isv = parties["marketplace"], parties["customer"], parties["isv"]
    opened = await api.open_delivery(marketplace, customer, isv)
    delivery_id = opened["delivery_id"]
    await api.command(
        delivery_id, customer, {"type": "submit_demand", "contact": CONTACT, "demands": "Logo"}
    )
    await api.command(delivery_id, isv, {"type": "finish"})

    # DC_CONFIRM_WINDOW is 8 s and DC_REMINDER_LEAD 4 s in the test environment.
    delivery = await api.wait_for_state(delivery_id, customer, "completed")
    fired = [h for h in delivery["history"] if h["command"] == "expire_deadline"]
    assert [h["to_state"] for h in fired] == ["awaiting_confirmation", "completed"]
    assert all(h["actor"] == {"id": "timer", "role": "system"} for h in fired)
    assert delivery["stages"][0]["reviews"][0]["outcome"] == "auto_confirmed"
    [reminder] = await mail.wait_for_async(
        lambda m: m["X-Delivery-Id"] == delivery_id and m["X-Event-Type"] == "confirmation_reminder"
    )
    assert reminder["To"] == opened["customer_email"]
    await mail.wait_for_async(
        lambda m: m["X-Delivery-Id"] == delivery_id and m["X-Event-Type"] == "auto_confirmed",
        count=2,
    )
