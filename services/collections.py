"""Names of the MongoDB collections, and their indexes, in one place."""

from __future__ import annotations

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.config import Settings

DELIVERIES = "deliveries"
#: One record per command id: who sent it and its outcome (accepted, applied, rejected).
COMMANDS = "commands"
ATTACHMENTS = "attachments"
#: The timer worker's mirror of every deadline, written by the workflow's outbox relay.
DEADLINES = "deadlines"
#: One record per (event, recipient): the notifier's proof that an email went out.
EMAILS = "emails"
#: Idempotency-Key records of the gateway.
IDEMPOTENCY = "idempotency_keys"


def database(client: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    return client[settings.mongo_db]


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[DELIVERIES].create_index([("customer_id", ASCENDING)])
    await db[DELIVERIES].create_index([("isv_id", ASCENDING)])
    await db[DELIVERIES].create_index([("has_outbox", ASCENDING)])
    await db[DEADLINES].create_index([("status", ASCENDING), ("due_at", ASCENDING)])
    await db[ATTACHMENTS].create_index([("delivery_id", ASCENDING)])
