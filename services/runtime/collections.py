"""Names of the MongoDB collections, and their indexes, in one place.

Records that only grow (command records, outcomes, emails) are written once, by insert, and
never updated: FerretDB 1.24 without the project's patches scanned a whole collection for
every update or delete, even by ``_id``.

The patched FerretDB serves a query from an index only for ``_id`` or the first field of an
index, compared with a string, ObjectId or bool (``v``, ``$eq``, ``$in``), and never sorts
through an index. Every query the product makes is shaped that way and each field it filters
on has an index here; ``tests/integration/test_indexed_queries.py`` checks both.
"""

from __future__ import annotations

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.delivery_days import DAY_FIELDS
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
#: One record per UTC day on which a delivery was opened or changed (see ``delivery_days``).
DELIVERY_DAYS = "delivery_days"
#: GridFS's collections for the attachments' bytes (PyMongo's default bucket ``fs``).
GRIDFS_FILES = "fs.files"
GRIDFS_CHUNKS = "fs.chunks"


def database(client: AsyncMongoClient, settings: Settings) -> AsyncDatabase:
    """The product's database, ``DC_MONGO_DB``, on ``client``."""
    return client[settings.mongo_db]


async def ensure_indexes(db: AsyncDatabase) -> None:
    """Create every index the product's queries need; creating an existing one is a no-op."""
    # Lists of one customer's or ISV's deliveries, and lists of one state.
    await db[DELIVERIES].create_index([("customer_id", ASCENDING)])
    await db[DELIVERIES].create_index([("isv_id", ASCENDING)])
    await db[DELIVERIES].create_index([("state", ASCENDING)])
    # Newest-first lists walk these day by day: every delivery, or one state's or ISV's.
    for day_field in DAY_FIELDS:
        await db[DELIVERIES].create_index([(day_field, ASCENDING)])
    await db[ATTACHMENTS].create_index([("delivery_id", ASCENDING)])
    # The workflow's outbox sweep: deliveries whose outbox is not relayed yet.
    await db[DELIVERIES].create_index([(HAS_OUTBOX, ASCENDING)])
    # PyMongo creates GridFS's indexes only on the first upload into an empty bucket; a
    # download reads the chunks by files_id, so make sure they exist whatever happened before.
    # Same keys and options as PyMongo's, so either may come first.
    await db[GRIDFS_CHUNKS].create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    await db[GRIDFS_FILES].create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
