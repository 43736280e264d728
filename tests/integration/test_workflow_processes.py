"""Several workflow processes are safe by design: the compare-and-set on a delivery's revision
serialises its commands, not a lock inside one process (issue 14).

The first test runs a whole system with two workflow processes consuming ``dc.commands`` and
fires many commands at once on one delivery and on a few more. The others drive the applier
in this process against the same database server and force a lost compare-and-set at a
chosen moment, so the conflict path is exercised whatever the machine's timing.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient, MongoClient

from services.notifier.headers import message_id
from services.runtime.collections import ATTACHMENTS, HAS_OUTBOX, ensure_indexes
from services.runtime.deadline_book import DeadlineBook
from services.runtime.scorecards import ScorecardBook
from services.workflow import apply as apply_module
from services.workflow.apply import CommandApplier, ConflictsExhausted
from services.workflow.migrations import MIGRATION_BATCH, DeliveryMigrations
from services.workflow.relay import OutboxRelay
from services.workflow.store import Conflict, DeliveryStore, StoredDelivery
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import COMMANDS_QUEUE
from shared.domain.engine import Applied, Policy, delivery_id_for, event_id_for
from tests.integration.client import Api, Party
from tests.integration.system import Service, System, free_port, running_system
from tooling.mailsink import MailSink
from tooling.vhosts import consumer_count

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "A shop with a cart"}
#: Seconds allowed per command on top of a fixed start: the wait grows with the work.
SECONDS_PER_COMMAND = 1.0


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


# --- two workflow processes, a whole system -------------------------------------------------


@pytest.fixture(scope="module")
def two_workflows(mail: MailSink) -> Iterator[System]:
    """A system whose ``workflow`` and ``workflow-2`` both consume ``dc.commands``.

    The rate limit is out of the way (the test polls a lot) and the confirmation window
    long, so no deadline fires while deliveries are brought to their warranty.
    """
    with running_system(
        mail.port,
        "two-workflows",
        DC_RATE_LIMIT_PER_SECOND="100000",
        DC_RATE_LIMIT_BURST="100000",
        DC_CONFIRM_WINDOW="3600",
        DC_REMINDER_LEAD="1800",
    ) as system:
        # Its own metrics port: two processes cannot serve one.
        env = {**system.env, "DC_WORKFLOW_METRICS_PORT": str(free_port())}
        second = Service("workflow", env, system.log_dir / "workflow-2.log")
        system.services["workflow-2"] = second
        second.start()
        deadline = time.monotonic() + 60
        while consumer_count(system.amqp_url, COMMANDS_QUEUE) < 2:
            if second.process is not None and second.process.poll() is not None:
                raise RuntimeError(f"the second workflow exited; see {second.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError("the second workflow process never consumed dc.commands")
            time.sleep(0.2)
        yield system


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


async def test_two_workflow_processes_serialise_concurrent_commands(
    two_workflows: System, mail: MailSink
):
    system = two_workflows
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

    # Both processes decided commands of the one busy delivery.
    workflows = {name: system.services[name] for name in ("workflow", "workflow-2")}
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
    print(
        f"{len(sends)} commands; decided per process {done}; lost compare-and-sets {conflicts:.0f};"
        f" events relayed more than once {sum(n - 1 for n in relayed.values())}"
    )


# --- the conflict path, forced ----------------------------------------------------------------

POLICY = Policy(confirm_window=timedelta(hours=1), reminder_lead=timedelta(minutes=30))
MARKETPLACE = {"id": "market-1", "role": "marketplace"}
CUSTOMER = {"id": "customer-1", "role": "customer"}
ISV = {"id": "isv-1", "role": "isv"}


def envelope(delivery_id: str, actor: dict, command: dict, command_id: str | None = None):
    return CommandEnvelope.model_validate(
        {
            "command_id": command_id or uuid.uuid4().hex,
            "delivery_id": delivery_id,
            "actor": actor,
            "issued_at": datetime.now(UTC),
            "command": command,
        }
    )


class Published(list):
    async def __call__(self, event: Any) -> None:
        self.append(event.event_id)


@pytest.fixture
async def scratch_db() -> AsyncIterator[Any]:
    """A database of its own on the test server, dropped after."""
    settings = Settings()
    client = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    name = f"dc_test_{uuid.uuid4().hex[:12]}"
    db = client[name]
    await ensure_indexes(db)
    try:
        yield db
    finally:
        await client.drop_database(name)
        await client.close()


def applier_on(db: Any, store: DeliveryStore, published: Published) -> CommandApplier:
    """An applier as one workflow process has it, with its own locks."""
    relay = OutboxRelay(store, DeadlineBook(db), published, ScorecardBook(db))
    return CommandApplier(store, relay, db[ATTACHMENTS], POLICY)


class InterruptedStore(DeliveryStore):
    """Runs ``meanwhile`` once, right after a read: another process's write lands between
    this process's read and its compare-and-set."""

    def __init__(self, db: Any):
        super().__init__(db)
        self.meanwhile: Callable[[], Any] | None = None

    async def load(self, delivery_id: str) -> StoredDelivery | None:
        stored = await super().load(delivery_id)
        if self.meanwhile is not None:
            interloper, self.meanwhile = self.meanwhile, None
            await interloper()
        return stored


async def open_in_warranty(applier: CommandApplier) -> str:
    order_id = f"order-{uuid.uuid4().hex[:12]}"
    delivery_id = delivery_id_for(order_id)
    opening = {
        "type": "open_delivery",
        "order_id": order_id,
        "order_spec": "Company website",
        "product_id": "prod-website",
        "isv_id": ISV["id"],
        "customer_id": CUSTOMER["id"],
        "customer_email": "customer@example.com",
        "isv_email": "isv@example.com",
        "process": "double_check",
        "warranty_period": "P30D",
    }
    for actor, command in (
        (MARKETPLACE, opening),
        (CUSTOMER, DEMAND),
        (ISV, {"type": "finish"}),
        (CUSTOMER, {"type": "confirm"}),
    ):
        assert await applier.apply(envelope(delivery_id, actor, command)) == "applied"
    return delivery_id


@asynccontextmanager
async def counted(counter: Any) -> AsyncIterator[Callable[[], float]]:
    before = counter._value.get()
    yield lambda: counter._value.get() - before


async def test_a_write_between_read_and_compare_and_set_makes_the_command_decide_again(
    scratch_db,
):
    published = Published()
    here = applier_on(scratch_db, InterruptedStore(scratch_db), published)
    other = applier_on(scratch_db, DeliveryStore(scratch_db), published)
    delivery_id = await open_in_warranty(other)
    first = envelope(
        delivery_id, CUSTOMER, {"type": "request_warranty_service", "description": "a"}
    )
    second = envelope(delivery_id, CUSTOMER, {"type": "confirm_warranty"})
    here.store.meanwhile = lambda: other.apply(second)

    async with counted(apply_module.CONFLICTS) as conflicts:
        # Read in_warranty, lose to the confirmation, read completed, refuse.
        assert await here.apply(first) == "rejected"
    assert conflicts() == 1
    document = await scratch_db.deliveries.find_one({"_id": delivery_id})
    assert [h["command"] for h in document["history"]][-1] == "confirm_warranty"
    assert [r["command_id"] for r in document["refusals"]] == [first.command_id]
    assert document["revision"] == len(document["history"]) + 1
    assert document["warranty_requests"] == []
    assert len(published) == len(set(published)) == len(document["history"])


async def test_the_same_command_in_two_processes_is_applied_once(scratch_db):
    published = Published()
    here = applier_on(scratch_db, InterruptedStore(scratch_db), published)
    other = applier_on(scratch_db, DeliveryStore(scratch_db), published)
    delivery_id = await open_in_warranty(other)
    request = envelope(
        delivery_id, CUSTOMER, {"type": "request_warranty_service", "description": "a"}
    )
    # A redelivered message: the other process applies it between our read and our write.
    here.store.meanwhile = lambda: other.apply(request)

    async with counted(apply_module.CONFLICTS) as conflicts:
        assert await here.apply(request) == "applied"
    assert conflicts() == 1
    document = await scratch_db.deliveries.find_one({"_id": delivery_id})
    assert [h["command_id"] for h in document["history"]].count(request.command_id) == 1
    assert len(document["warranty_requests"]) == 1
    assert published.count(event_id_for(request.command_id)) == 1
    assert await scratch_db.command_outcomes.count_documents({"_id": request.command_id}) == 1


class AlwaysLosingStore(DeliveryStore):
    """Every compare-and-set finds the delivery written meanwhile."""

    async def save_applied(self, stored: StoredDelivery, applied: Applied) -> list[dict]:
        raise Conflict(stored.delivery.delivery_id)


async def test_after_the_last_attempt_the_command_is_left_for_a_retry(scratch_db, monkeypatch):
    monkeypatch.setattr(apply_module, "backoff_seconds", lambda attempt: 0.0)
    published = Published()
    losing = applier_on(scratch_db, AlwaysLosingStore(scratch_db), published)
    delivery_id = await open_in_warranty(
        applier_on(scratch_db, DeliveryStore(scratch_db), published)
    )
    request = envelope(
        delivery_id, CUSTOMER, {"type": "request_warranty_service", "description": "a"}
    )

    async with counted(apply_module.CONFLICTS) as conflicts:
        with pytest.raises(ConflictsExhausted):
            await losing.apply(request)
    assert conflicts() == apply_module.MAX_ATTEMPTS
    # Nothing of it was written: dramatiq's retry decides it afresh, and once.
    assert await scratch_db.command_outcomes.count_documents({"_id": request.command_id}) == 0
    retrying = applier_on(scratch_db, DeliveryStore(scratch_db), published)
    assert await retrying.apply(request) == "applied"
    assert await retrying.apply(request) == "applied"
    document = await scratch_db.deliveries.find_one({"_id": delivery_id})
    assert [h["command_id"] for h in document["history"]].count(request.command_id) == 1
    assert published.count(event_id_for(request.command_id)) == 1


async def test_an_outbox_stored_before_the_flag_is_flagged_once(scratch_db):
    """A delivery stored by an earlier version with an unrelayed outbox and no flag: the
    first start flags it so the sweep finds it; later starts do not scan again."""
    published = Published()
    store = DeliveryStore(scratch_db)
    delivery_id = await open_in_warranty(applier_on(scratch_db, store, published))
    entry = {"entry_id": "event:left-behind", "event": {"event_id": "left-behind"}}
    await scratch_db.deliveries.update_one(
        {"_id": delivery_id},
        {
            "$set": {"outbox": [entry], "updated_at": datetime.now(UTC) - timedelta(hours=1)},
            "$unset": {HAS_OUTBOX: ""},
        },
    )
    now = datetime.now(UTC)
    assert await store.with_pending_outbox(now, limit=10) == []
    assert await DeliveryMigrations(store).flag_outboxes_stored_before_the_flag(now) == 1
    [pending] = await store.with_pending_outbox(now, limit=10)
    assert pending["_id"] == delivery_id
    await scratch_db.deliveries.update_one({"_id": delivery_id}, {"$unset": {HAS_OUTBOX: ""}})
    assert await DeliveryMigrations(store).flag_outboxes_stored_before_the_flag(now) == 0


async def test_flagging_old_outboxes_in_batches_flags_exactly_the_unrelayed_ones(scratch_db):
    """More deliveries than one batch, mixed: only unflagged ones with entries get the flag."""
    store = DeliveryStore(scratch_db)
    entry = {"entry_id": "event:left-behind", "event": {"event_id": "left-behind"}}
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    count = 2 * MIGRATION_BATCH + 3
    documents = [
        {
            "_id": f"old-{i:05d}",
            "outbox": [entry] if i % 3 else [],
            "updated_at": long_ago,
            **({HAS_OUTBOX: False} if i % 7 == 0 else {}),
        }
        for i in range(count)
    ]
    await scratch_db.deliveries.insert_many(documents)
    expected = {d["_id"] for d in documents if d["outbox"] and HAS_OUTBOX not in d}
    migrations = DeliveryMigrations(store)
    assert await migrations.flag_outboxes_stored_before_the_flag(datetime.now(UTC)) == len(expected)
    flagged = {d["_id"] async for d in scratch_db.deliveries.find({HAS_OUTBOX: True})}
    assert flagged == expected


async def test_the_outbox_flag_stays_raised_while_a_newer_outbox_waits(scratch_db):
    """Relaying an outbox lowers the flag only if no newer command's entries came meanwhile."""
    published = Published()
    store = DeliveryStore(scratch_db)
    delivery_id = await open_in_warranty(applier_on(scratch_db, store, published))
    older, newer = {"entry_id": "event:older"}, {"entry_id": "event:newer"}
    await scratch_db.deliveries.update_one(
        {"_id": delivery_id}, {"$set": {"outbox": [older, newer], HAS_OUTBOX: True}}
    )
    await store.mark_relayed(delivery_id, [older])
    document = await scratch_db.deliveries.find_one({"_id": delivery_id})
    assert document["outbox"] == [newer] and document[HAS_OUTBOX] is True
    await store.mark_relayed(delivery_id, [newer])
    document = await scratch_db.deliveries.find_one({"_id": delivery_id})
    assert document["outbox"] == [] and document[HAS_OUTBOX] is False
