"""Durable deadlines: they fire once, late at most by a restart, never after the customer acted.

The session system runs with DC_CONFIRM_WINDOW=8 s and DC_REMINDER_LEAD=4 s.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime

from services.runtime.deadline_book import BUCKET_PREFIX
from tests.integration.client import Api
from tests.integration.system import Service, System
from tests.integration.waiting import until

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "Logo"}


async def _awaiting_confirmation(api: Api, parties) -> str:
    customer, isv = parties["customer"], parties["isv"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, isv))["delivery_id"]
    assert (await api.command(delivery_id, customer, DEMAND))["status"] == "applied"
    assert (await api.command(delivery_id, isv, {"type": "finish"}))["status"] == "applied"
    return delivery_id


def _expiries(delivery: dict) -> list[tuple[str, str]]:
    return [
        (h["from_state"], h["to_state"])
        for h in delivery["history"]
        if h["command"] == "expire_deadline"
    ]


def _filed(db, delivery_id: str) -> list[dict]:
    return [
        doc
        for name in db.list_collection_names()
        if name.startswith(BUCKET_PREFIX)
        for doc in db[name].find({"delivery_id": delivery_id})
    ]


async def _filed_both(db, delivery_id: str) -> list[dict]:
    """The delivery's confirmation window and reminder, once the workflow has filed both."""
    await until(lambda: len(_filed(db, delivery_id)) == 2, "both deadlines filed")
    return _filed(db, delivery_id)


async def test_a_customer_who_confirms_first_cancels_the_deadlines(api: Api, parties, db):
    delivery_id = await _awaiting_confirmation(api, parties)
    assert {d["status"] for d in await _filed_both(db, delivery_id)} == {"active"}
    assert (await api.command(delivery_id, parties["customer"], {"type": "confirm"}))[
        "status"
    ] == "applied"
    # Past the window's end: a second delivery, filed after ours, whose window the clock
    # closes. Its deadlines fall due after ours, so once it is completed the timer worker
    # has polled past our due times, and would have fired ours were they still active.
    later = await _awaiting_confirmation(api, parties)
    await api.wait_for_state(later, parties["customer"], "completed")
    delivery = await api.delivery(delivery_id, parties["customer"])
    assert delivery["state"] == "completed"
    assert _expiries(delivery) == [] and delivery["refusals"] == []
    assert {d["kind"]: d["status"] for d in _filed(db, delivery_id)} == {
        "confirmation_window": "cancelled",
        "reminder": "cancelled",
    }


async def _restarted_while_pending(api: Api, parties, system: System, db, name: str) -> dict:
    delivery_id = await _awaiting_confirmation(api, parties)
    last_due = max(d["due_at"] for d in await _filed_both(db, delivery_id))
    service: Service = system.services[name]
    await asyncio.to_thread(service.stop, signal.SIGTERM)
    await until(lambda: datetime.now(UTC) > last_due, "both deadlines due while it is down")
    await asyncio.to_thread(system.restart, name)
    delivery = await api.wait_for_state(delivery_id, parties["customer"], "completed")
    # Both were overdue together: the window fires once; the reminder, moot by then, is
    # applied at most once (before the window) or refused as no longer active.
    fired = _expiries(delivery)
    assert fired.count(("awaiting_confirmation", "completed")) == 1
    assert fired.count(("awaiting_confirmation", "awaiting_confirmation")) <= 1
    assert fired[-1] == ("awaiting_confirmation", "completed")
    assert {r["code"] for r in delivery["refusals"]} <= {"deadline_not_active", "terminal_state"}
    return delivery


async def test_deadlines_due_while_the_timer_worker_is_down_fire_once_when_it_is_back(
    api: Api, parties, system: System, db
):
    await _restarted_while_pending(api, parties, system, db, "timers")


async def test_deadlines_due_while_the_workflow_is_down_fire_once_when_it_is_back(
    api: Api, parties, system: System, db
):
    await _restarted_while_pending(api, parties, system, db, "workflow")


async def test_two_timer_workers_fire_each_deadline_once(api: Api, parties, system: System, db):
    # Its own metrics port would clash with the first timer worker's: it needs none.
    env = {**system.env, "DC_TIMERS_METRICS_PORT": "0"}
    second = Service("timers", env, system.log_dir / "timers-2.log")
    second.start()
    try:
        delivery_ids = await asyncio.gather(
            *(_awaiting_confirmation(api, parties) for _ in range(6))
        )
        for delivery_id in delivery_ids:
            delivery = await api.wait_for_state(delivery_id, parties["customer"], "completed")
            assert len(_expiries(delivery)) == 2
            assert delivery["refusals"] == []
        # Outcome records are written after the delivery: until each expiry has its own (one
        # per command id, so a deadline fired twice could not add one).
        expiry_outcomes = {"delivery_id": {"$in": delivery_ids}, "type": "expire_deadline"}
        await until(
            lambda: db.command_outcomes.count_documents(expiry_outcomes) >= 2 * len(delivery_ids),
            "an outcome recorded for every expiry",
        )
        assert db.command_outcomes.count_documents(expiry_outcomes) == 2 * len(delivery_ids)
    finally:
        second.stop()
