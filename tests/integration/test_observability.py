"""Operators can watch every service: Prometheus series, and JSON logs carrying the ids."""

from __future__ import annotations

import json
import urllib.request

from tests.integration.client import Api
from tests.integration.system import System
from tests.integration.waiting import PATIENCE, until

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}


def _metrics(port: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=PATIENCE) as response:
        return response.read().decode()


async def test_every_worker_serves_its_named_series(api: Api, parties, system: System):
    customer, isv = parties["customer"], parties["isv"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, isv))["delivery_id"]
    await api.command(
        delivery_id, customer, {"type": "submit_demand", "contact": CONTACT, "demands": "x"}
    )
    await api.command(delivery_id, isv, {"type": "finish"})

    async def reminded() -> bool:
        delivery = await api.delivery(delivery_id, customer)
        return any(h["command"] == "expire_deadline" for h in delivery["history"])

    # The clock's first deadline: the reminder, half the window after the finish.
    await until(reminded, "the timer worker fires the reminder")

    workflow = _metrics(system.env["DC_WORKFLOW_METRICS_PORT"])
    assert 'dc_messages_total{actor="apply_command",outcome="done",queue="dc.commands"}' in workflow
    assert "dc_message_seconds_bucket" in workflow
    timers = _metrics(system.env["DC_TIMERS_METRICS_PORT"])
    assert (
        "dc_deadlines_fired_total" in timers and "dc_deadline_firing_lag_seconds_bucket" in timers
    )
    gateway = _metrics(system.env["DC_HTTP_PORT"])
    assert 'route="/v1/deliveries/{delivery_id}/commands",status="202"' in gateway
    assert "dc_http_request_seconds_bucket" in gateway
    notifier = _metrics(system.env["DC_NOTIFIER_METRICS_PORT"])
    assert "dc_emails_sent_total" in notifier and "dc_emails_failed_total" in notifier


async def test_logs_are_json_lines_that_follow_one_delivery(api: Api, parties, system: System):
    customer = parties["customer"]
    delivery_id = (await api.open_delivery(parties["marketplace"], customer, parties["isv"]))[
        "delivery_id"
    ]
    await api.command(
        delivery_id, customer, {"type": "submit_demand", "contact": CONTACT, "demands": "x"}
    )

    def story_of(name: str) -> list[dict]:
        lines = (system.log_dir / f"{name}.log").read_text().splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        assert records, f"{name} wrote no JSON log lines"
        return [r for r in records if r.get("delivery_id") == delivery_id]

    # The notifier emails (and logs) after the command is applied, in its own time.
    await until(
        lambda: any(r.get("event_id") for r in story_of("notifier")),
        "the notifier logs an event of the delivery",
    )
    story = {name: story_of(name) for name in ("gateway", "workflow", "notifier")}
    assert {r["service"] for r in story["workflow"]} == {"workflow"}
    assert any(r.get("command_id") and r.get("status") == "applied" for r in story["workflow"])
    assert any(r.get("event_id") for r in story["notifier"])
    assert any(r.get("command_id") for r in story["gateway"])
