"""MongoDB in one place: the clients, the names of the collections, and their indexes.

Records that only grow (command records, outcomes, emails) are written once, by insert, and
never updated: FerretDB 1.24 without the project's patches scanned a whole collection for
every update or delete, even by ``_id``.

The patched FerretDB serves a query from an index only for ``_id`` or the first field of an
index, compared with a string, ObjectId or bool (``v``, ``$eq``, ``$in``), and never sorts
through an index. Every query the product makes is shaped that way and each field it filters
on has an index here; ``tests/integration/test_indexed_queries.py`` checks both.
"""

from __future__ import annotations

from pymongo import ASCENDING, AsyncMongoClient, MongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.runtime.delivery_days import DAY_FIELDS, without_day_fields
from services.runtime.party_lists import LIST_FIELDS
from services.runtime.scorecards import SCORECARD_DAYS
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
#: The stream of record: one document per public event, in recorded order (``event_log``).
EVENTS = "events"
#: One document per UTC hour in which an event was recorded (``_id`` ``"2026-11-30T13"``).
EVENT_HOURS = "event_hours"
#: One document per webhook endpoint an admin registered (``shared.contracts.webhooks``).
WEBHOOK_ENDPOINTS = "webhook_endpoints"
#: One document per (endpoint, event): its attempts, and when the next one is due.
WEBHOOK_DELIVERIES = "webhook_deliveries"
#: One record per dead letter: the error that sent the message there (``dead_letter_recorder``).
DEAD_LETTERS = "dead_letters"
#: GridFS's collections for the attachments' bytes (PyMongo's default bucket ``fs``).
GRIDFS_FILES = "fs.files"
GRIDFS_CHUNKS = "fs.chunks"
#: A stored delivery's fields that are the store's bookkeeping: never part of the domain's
#: record, never shown.
BOOKKEEPING_FIELDS = frozenset({"_id", "revision", "outbox", HAS_OUTBOX, *DAY_FIELDS, *LIST_FIELDS})
#: What a list of deliveries reads of each: all but the long records and the bookkeeping.
LIST_PROJECTION = {
    **without_day_fields({"history": 0, "refusals": 0, "outbox": 0, "stages": 0}),
    **dict.fromkeys(LIST_FIELDS, 0),
}

#: Milliseconds to find a server, and to connect to it, before a MongoDB operation gives up.
MONGO_TIMEOUT_MS = 5000
#: What every operation asks of MongoDB, so that a replica set's failover loses nothing and
#: doubles nothing (README "Running at scale → MongoDB replica set"). Every collection, GridFS
#: bucket and database of the client inherits them:
#:
#: - a write is acknowledged once a majority of the members have it in their journal, so the
#:   primary elected after a failover has it: the delivery's compare-and-set, command outcomes,
#:   email claims and records, deadline buckets, scorecard facts, events, webhooks;
#: - a write or read that fails on a network error or an election is retried once, on the new
#:   primary (for writes, with the same transaction number: the server applies it at most once);
#: - reads go to the primary and see only majority-committed data, never a write a failover
#:   may roll back: the store's load before its compare-and-set, the notifier's claims, the
#:   timer's due reads.
#:
#: Fixed, not a setting: a weaker concern would break that guarantee, and these hold on a
#: single MongoDB too. FerretDB 1.24 accepts and ignores them (measured: it acknowledges even
#: ``w: 3`` and an unknown tag; its ``hello`` names no replica set, so PyMongo sends no
#: retryable-write transaction numbers to it); one SQLite file is its durability.
DURABILITY_OPTIONS: dict[str, object] = {
    "w": "majority",
    "journal": True,
    "retryWrites": True,
    "retryReads": True,
    "readConcernLevel": "majority",
    "readPreference": "primary",
}
#: Options of every MongoDB client; ``tz_aware``: every datetime stored is UTC and must come
#: back aware.
CLIENT_OPTIONS: dict[str, object] = {
    "tz_aware": True,
    "serverSelectionTimeoutMS": MONGO_TIMEOUT_MS,
    "connectTimeoutMS": MONGO_TIMEOUT_MS,
    **DURABILITY_OPTIONS,
}


def make_mongo(settings: Settings, **options: object) -> AsyncMongoClient:
    """A MongoDB client that gives up on an unreachable server after 5 s.

    Parameters:
      settings(Settings): ``mongo_url`` is the server (a MongoDB connection string).
      **options: More ``AsyncMongoClient`` keyword options, e.g. ``maxPoolSize``.

    Returns:
      AsyncMongoClient: ``tz_aware``, so datetimes come back as aware UTC; majority writes
      and reads on the primary (:data:`DURABILITY_OPTIONS`); it connects lazily, so an
      unreachable server shows up on the first operation, not here.
    """
    return AsyncMongoClient(settings.mongo_url, **{**CLIENT_OPTIONS, **options})


def make_sync_mongo(settings: Settings) -> MongoClient:
    """The synchronous twin of :func:`make_mongo`, for code outside an event loop: the
    dead-letter recorder (a dramatiq middleware) and the operators' commands.

    Returns:
      MongoClient: ``tz_aware``, 5 s timeouts, :data:`DURABILITY_OPTIONS`, connecting lazily
      like :func:`make_mongo`.
    """
    return MongoClient(settings.mongo_url, **CLIENT_OPTIONS)


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
    # Each party's own list (/me): its customer's and its ISV's place in it (``party_lists``).
    for list_field in LIST_FIELDS:
        await db[DELIVERIES].create_index([(list_field, ASCENDING)])
    await db[ATTACHMENTS].create_index([("delivery_id", ASCENDING)])
    # The workflow's outbox sweep: deliveries whose outbox is not relayed yet.
    await db[DELIVERIES].create_index([(HAS_OUTBOX, ASCENDING)])
    # An endpoint's delivery log (the gateway), and the deliveries due (the notifier's poll).
    await db[WEBHOOK_DELIVERIES].create_index([("webhook_id", ASCENDING)])
    await db[WEBHOOK_DELIVERIES].create_index([("status", ASCENDING)])
    # The scorecard table's refresh reads a period's facts day by day (``scorecards``).
    await db[SCORECARD_DAYS].create_index([("day", ASCENDING)])
    # The stream of record, read hour by hour (``event_log``; the workflow creates it too).
    await db[EVENTS].create_index([("recorded_hour", ASCENDING)])
    # PyMongo creates GridFS's indexes only on the first upload into an empty bucket; a
    # download reads the chunks by files_id, so make sure they exist whatever happened before.
    # Same keys and options as PyMongo's, so either may come first.
    await db[GRIDFS_CHUNKS].create_index([("files_id", ASCENDING), ("n", ASCENDING)], unique=True)
    await db[GRIDFS_FILES].create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
