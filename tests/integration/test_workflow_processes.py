"""Several workflow processes are safe by design: the compare-and-set on a delivery's revision
serialises its commands, not a lock inside one process (issue 14).

These tests drive the applier in this process against the database server and force a lost
compare-and-set at a chosen moment, so the conflict path is exercised whatever the machine's
timing. A whole system with three workflow processes firing many commands at once on a few
deliveries is ``test_cluster_of_rabbitmq_nodes`` (on a RabbitMQ cluster; it replaced the
two-process run of issue 14, which it covers).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

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
from shared.domain.engine import Applied, Policy, delivery_id_for, event_id_for
from tests.integration.concurrent_commands import (
    DEMAND,
)

#: Seconds allowed per command on top of a fixed start: the wait grows with the work.
SECONDS_PER_COMMAND = 1.0


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
