"""The database server takes the product's write and read concerns (``DURABILITY_OPTIONS``):
a compare-and-set through ``make_mongo`` and ``database()`` is sent with ``w: majority`` and
``j: true``, its load with read concern ``majority``, and the server applies them without a
write-concern error. FerretDB 1.24 accepts and ignores them; MongoDB 7 (``DC_MONGO_URL``)
honours them, on one server as on a replica set."""

from __future__ import annotations

import uuid

import pytest
from pymongo import monitoring

from services.runtime.collections import DELIVERIES, database, make_mongo
from shared.config import Settings
from tooling.provision import ensure_infrastructure

pytestmark = pytest.mark.integration


class _Commands(monitoring.CommandListener):
    """Every command sent, and every reply, by name."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.replies: list[tuple[str, dict]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.replies.append((event.command_name, dict(event.reply)))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_compare_and_set_goes_through_with_majority_concerns():
    settings = Settings(mongo_db=f"dc_test_{uuid.uuid4().hex[:12]}")
    ensure_infrastructure(settings)
    commands = _Commands()
    client = make_mongo(settings, event_listeners=[commands])
    try:
        deliveries = database(client, settings)[DELIVERIES]
        await deliveries.insert_one({"_id": "d1", "revision": 1, "state": "opened"})
        loaded = await deliveries.find_one({"_id": "d1"})
        moved = await deliveries.update_one(
            {"_id": "d1", "revision": loaded["revision"]},
            {"$set": {"state": "accepted"}, "$inc": {"revision": 1}},
        )
        stale = await deliveries.update_one(
            {"_id": "d1", "revision": loaded["revision"]}, {"$set": {"state": "rejected"}}
        )
        assert (moved.modified_count, stale.modified_count) == (1, 0)
        assert await deliveries.find_one({"_id": "d1"}) == {
            "_id": "d1",
            "revision": 2,
            "state": "accepted",
        }
    finally:
        await client.drop_database(settings.mongo_db)
        await client.close()

    writes = [cmd for name, cmd in commands.sent if name in ("insert", "update")]
    reads = [cmd for name, cmd in commands.sent if name == "find"]
    assert len(writes) == 3 and len(reads) == 2
    assert all(cmd["writeConcern"] == {"w": "majority", "j": True} for cmd in writes)
    assert all(cmd["readConcern"] == {"level": "majority"} for cmd in reads)
    assert not [reply for _, reply in commands.replies if "writeConcernError" in reply]
