"""Many commands at once on a few deliveries, decided by several workflow processes: per
delivery, one order and exactly-once effects (issue 14 with two processes on one broker,
issue 19 with three on a RabbitMQ cluster).

The compare-and-set on a delivery's revision serialises its commands, not a lock inside one
process, so any number of processes consuming ``dc.commands`` keep every delivery's history
a single line.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from services.notifier.headers import message_id
from services.runtime.collections import HAS_OUTBOX
from shared.contracts.queues import COMMANDS_QUEUE
from shared.domain.engine import event_id_for
from tests.integration.client import Api, Party
from tests.integration.system import Service, System, free_port
from tooling.mailsink import MailSink
from tooling.vhosts import consumer_count

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "A shop with a cart"}
#: Seconds allowed per command on top of a fixed start: the wait grows with the work.
SECONDS_PER_COMMAND = 1.0
#: Overrides for a system these runs drive: the rate limit out of the way (the runs poll a
#: lot) and the confirmation window long, so no deadline fires while deliveries are brought
#: to their warranty.
BUSY_SYSTEM = {
    "DC_RATE_LIMIT_PER_SECOND": "100000",
    "DC_RATE_LIMIT_BURST": "100000",
    "DC_CONFIRM_WINDOW": "3600",
    "DC_REMINDER_LEAD": "1800",
}


def add_workflow(system: System, name: str, **overrides: str) -> Service:
    """Start one more workflow process, ``name``, with its own metrics port (two processes
    cannot serve one) and ``overrides`` of the system's environment; returns once
    ``dc.commands`` has a consumer more than before.

    Raises:
      RuntimeError: The process exited (its log is ``<log_dir>/<name>.log``).
      TimeoutError: It never consumed ``dc.commands`` within 60 s.
    """
    before = consumer_count(system.amqp_url, COMMANDS_QUEUE)
    env = {**system.env, "DC_WORKFLOW_METRICS_PORT": str(free_port()), **overrides}
    service = Service("workflow", env, system.log_dir / f"{name}.log")
    system.services[name] = service
    service.start()
    deadline = time.monotonic() + 60
    while consumer_count(system.amqp_url, COMMANDS_QUEUE) <= before:
        if service.process is not None and service.process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {service.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} never consumed dc.commands")
        time.sleep(0.2)
    return service


async def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` (run in a thread: it may block) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(condition)
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.1)


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short while being written
    return lines


def metric(service: Service, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels`` that a workflow process serves."""
    url = f"http://127.0.0.1:{service.env['DC_WORKFLOW_METRICS_PORT']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def bring_to_warranty(api: Api, marketplace: Party, customer: Party, isv: Party) -> dict:
    opened = await api.open_delivery(
        marketplace, customer, isv, process="double_check", warranty_period="P30D"
    )
    for party, body in (
        (customer, DEMAND),
        (isv, {"type": "finish"}),
        (customer, {"type": "confirm"}),
    ):
        outcome = await api.command(opened["delivery_id"], party, body)
        assert outcome["status"] == "applied", outcome
    return opened


async def send_all(api: Api, sends: list[tuple[str, Party, dict]]) -> list[str]:
    """Send every command at once; returns their command ids, each accepted with 202."""

    async def send(delivery_id: str, party: Party, body: dict) -> str:
        status, answer = await api.send(delivery_id, party, body)
        assert status == 202, answer
        return answer["command_id"]

    return list(await asyncio.gather(*(send(*one) for one in sends)))


def check_one_delivery(document: dict, outcomes: dict[str, dict], sent: list[str]) -> None:
    """Every command sent has one outcome, matching the delivery; no transition was lost."""
    history, refusals = document["history"], document["refusals"]
    history_ids = [h["command_id"] for h in history]
    refused_ids = [r["command_id"] for r in refusals]
    assert len(set(history_ids)) == len(history_ids), "a command was applied twice"
    assert len(set(refused_ids)) == len(refused_ids), "a command was refused twice"
    applied = {c for c in sent if outcomes[c]["status"] == "applied"}
    rejected = {c for c in sent if outcomes[c]["status"] == "rejected"}
    assert applied | rejected == set(sent)
    assert applied == set(history_ids) & set(sent)
    assert rejected == set(refused_ids) & set(sent)
    # Each write moved the revision by one, so none overwrote another.
    assert document["revision"] == len(history) + len(refusals)
    assert document["version"] == len(history)
    for before, after in zip(history, history[1:], strict=False):
        assert after["from_state"] == before["to_state"], (before, after)
    assert document["outbox"] == [] and document[HAS_OUTBOX] is False


async def serialise_concurrent_commands(
    system: System, mail: MailSink, workflow_names: Sequence[str]
) -> str:
    """Send 24 warranty requests with a confirmation among them to one delivery, and
    requests interleaved with refused ISV commands to two more, all at once; check that
    every command has one outcome matching its delivery's single-line history, that every
    one of ``workflow_names`` decided commands of the busy delivery, and that each transition
    was relayed and emailed to each party exactly once.

    Returns:
      str: The run's figures (commands, decided per process, lost compare-and-sets).
    """
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        marketplace, customer, isv = (api.party(r) for r in ("marketplace", "customer", "isv"))
        opened = await asyncio.gather(
            *(bring_to_warranty(api, marketplace, customer, isv) for _ in range(3))
        )
        busy, *others = [o["delivery_id"] for o in opened]

        # The busy delivery: warranty requests with the confirmation among them, so which of
        # them are applied depends on the order they were serialised in. The others:
        # requests interleaved with ISV commands that are refused, a write of their own.
        warranty = [
            (busy, customer, {"type": "request_warranty_service", "description": f"issue {n}"})
            for n in range(24)
        ]
        warranty.insert(12, (busy, customer, {"type": "confirm_warranty"}))
        mixed = [
            (delivery_id, party, body)
            for delivery_id in others
            for n in range(8)
            for party, body in (
                (customer, {"type": "request_warranty_service", "description": f"issue {n}"}),
                (isv, {"type": "finish", "note": f"try {n}"}),
            )
        ]
        sends = warranty + mixed
        command_ids = await send_all(api, sends)

    timeout = 30 + SECONDS_PER_COMMAND * len(sends)
    with MongoClient(system.env["DC_MONGO_URL"], tz_aware=True) as client:
        db = client[system.env["DC_MONGO_DB"]]

        def all_decided() -> dict[str, dict] | None:
            found = {o["_id"]: o for o in db.command_outcomes.find({"_id": {"$in": command_ids}})}
            return found if len(found) == len(command_ids) else None

        outcomes = await wait_until(all_decided, timeout, "an outcome for every command")
        documents = {}
        for delivery_id in (busy, *others):
            sent = [c for c, (d, _, _) in zip(command_ids, sends, strict=True) if d == delivery_id]
            # The last writer relays before it records its outcome, so this holds already.
            documents[delivery_id] = document = db.deliveries.find_one({"_id": delivery_id})
            check_one_delivery(document, outcomes, sent)

    # The busy delivery: one confirmation; every request before it applied, after it refused.
    busy_doc = documents[busy]
    assert busy_doc["state"] == "completed"
    commands = [h["command"] for h in busy_doc["history"]]
    assert commands.count("confirm_warranty") == 1
    assert commands[-1] == "confirm_warranty"
    requests_applied = commands.count("request_warranty_service")
    assert len(busy_doc["warranty_requests"]) == requests_applied
    assert len(busy_doc["refusals"]) == 24 - requests_applied
    assert {r["code"] for r in busy_doc["refusals"]} <= {"terminal_state"}
    for delivery_id in others:
        document = documents[delivery_id]
        assert document["state"] == "in_warranty"
        assert len(document["warranty_requests"]) == 8
        assert [r["command"] for r in document["refusals"]] == ["finish"] * 8

    # Every process decided commands of the one busy delivery.
    workflows = {name: system.services[name] for name in workflow_names}
    logs = {name: json_lines(service.log_path) for name, service in workflows.items()}
    for name, lines in logs.items():
        decided_here = [
            line
            for line in lines
            if line.get("delivery_id") == busy
            and line.get("logger") == "services.workflow.apply"
            and line.get("status") in ("applied", "rejected")
        ]
        assert decided_here, f"{name} decided no command of the busy delivery"
    done = [
        metric(service, "dc_messages_total", queue=COMMANDS_QUEUE, outcome="done")
        for service in workflows.values()
    ]
    assert all(n > 0 for n in done), done

    # Events: one per transition, each relayed (a lost write would leave an event without
    # its transition); emails: exactly one per transition and party.
    transitions = {
        event_id_for(h["command_id"]): delivery_id
        for delivery_id, document in documents.items()
        for h in document["history"]
    }
    relayed = Counter(
        line["event_id"]
        for lines in logs.values()
        for line in lines
        if line.get("logger") == "services.workflow.relay" and line.get("delivery_id") in documents
    )
    assert set(relayed) == set(transitions)
    notifier_log = system.services["notifier"].log_path

    def every_publication_handled() -> bool:
        handled = Counter(
            line.get("event_id")
            for line in json_lines(notifier_log)
            if "emails sent" in str(line.get("event"))
        )
        return all(handled[event] >= times for event, times in relayed.items())

    await wait_until(every_publication_handled, timeout, "the notifier handling every event")
    emails = {o["delivery_id"]: (o["customer_email"], o["isv_email"]) for o in opened}
    expected = Counter(
        message_id(event, address)
        for event, delivery_id in transitions.items()
        for address in emails[delivery_id]
    )
    received = Counter(m["Message-ID"] for m in mail.messages if m["X-Delivery-Id"] in documents)
    assert received == expected
    conflicts = sum(metric(s, "dc_workflow_conflicts_total") for s in workflows.values())
    return (
        f"{len(sends)} commands; decided per process {done}; lost compare-and-sets {conflicts:.0f};"
        f" events relayed more than once {sum(n - 1 for n in relayed.values())}"
    )
