"""Names of the MongoDB collections, and their indexes, in one place.

FerretDB 1.24's SQLite backend scans a whole collection for every update or delete, even
by ``_id``, while an insert costs the same at any size. So records that only grow (command
records, outcomes, emails) are written once, by insert, and never updated.
"""

from __future__ import annotations

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.config import Settings

DELIVERIES = "deliveries"
#: One record per command accepted over HTTP: who sent it, for which delivery, the body's hash.
COMMANDS = "commands"
#: One record per command decided by the workflow: applied, or rejected with a reason.
COMMAND_OUTCOMES = "command_outcomes"
ATTACHMENTS = "attachments"
#: One claim per (event, recipient), taken before the SMTP conversation.
EMAILS = "emails"
#: One record per (event, recipient) whose email the SMTP server accepted.
EMAILS_SENT = "emails_sent"
#: One record per one-off data migration done, so that it runs once per database.
MIGRATIONS = "migrations"
#: A delivery's flag, true while its outbox holds entries not relayed yet: the outbox sweep
#: finds those through its index (see ``services.workflow.store``).
HAS_OUTBOX = "has_outbox"


def database(client: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    return client[settings.mongo_db]


async def ensure_indexes(db: AsyncDatabase) -> None:
    await db[DELIVERIES].create_index([("customer_id", ASCENDING)])
    await db[DELIVERIES].create_index([("isv_id", ASCENDING)])
    await db[ATTACHMENTS].create_index([("delivery_id", ASCENDING)])
    # The workflow's outbox sweep: deliveries whose outbox is not relayed yet.
    await db[DELIVERIES].create_index([(HAS_OUTBOX, ASCENDING)])
