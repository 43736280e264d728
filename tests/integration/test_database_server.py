"""The database server keeps MongoDB's semantics where our FerretDB patches change its plans.

The patches (tooling/ferretdb_patches/) let SQLite serve equality and ``$in`` filters
from an index and make read-modify-write commands atomic. Each check here compares a
collection with an index on the field against the same documents without one: the results
must be identical, whatever the values' types. On FerretDB the plan must also show the index.
The same checks pass on MongoDB 7 (``DC_MONGO_URL``), where only the plan assertions are off.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bson import Int64, ObjectId
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from shared.config import Settings
from tooling.provision import ensure_infrastructure

pytestmark = pytest.mark.integration

# Fixed, not drawn: it appears in test ids, which parallel workers (pytest-xdist) must agree on.
OBJECT_ID = ObjectId("6b0d2c85b0e9952f54d7d0ac")
UNSTORED_ID = ObjectId("6b0d2c85b0e9952f54d7d0ad")

#: Stored values of every kind a field may hold, including look-alikes of each other.
STORED: list[Any] = [
    "a",
    "A",
    "é",
    "e\u0301",
    "<>&",
    'q"uote',
    "back\\slash",
    "line\nbreak",
    "\u2028",
    "😀",
    "\x01",
    "",
    "5",
    "a b",
    "[a]",
    "true",
    str(OBJECT_ID),
    OBJECT_ID,
    5,
    5.0,
    Int64(5),
    -0.0,
    0,
    None,
    True,
    False,
    ["a", "x"],
    ["é"],
    [5, "5"],
    [OBJECT_ID],
    [True],
    [],
    {"a": 1},
    {"nested": "a"},
]

#: Values asked for: every stored scalar and some that match nothing.
ASKED: list[Any] = [v for v in STORED if not isinstance(v, list | dict)] + ["x", "ä", UNSTORED_ID]


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    settings = Settings()
    ensure_infrastructure(settings)
    name = f"dc_test_{uuid.uuid4().hex[:12]}"
    with MongoClient(settings.mongo_url) as client:
        yield client[name]
        client.drop_database(name)


@pytest.fixture(scope="module")
def on_ferretdb(database: Database) -> bool:
    return "ferretdbVersion" in database.client.admin.command("buildInfo")


@pytest.fixture(scope="module")
def pair(database: Database) -> tuple[str, str]:
    """Two collections with the same documents: ``indexed`` has an index on ``k``."""
    documents = [{"_id": i, "k": value} for i, value in enumerate(STORED)]
    documents.append({"_id": len(documents)})  # no k at all
    database["indexed"].create_index("k")
    database["indexed"].insert_many(documents)
    database["plain"].insert_many(documents)
    return "indexed", "plain"


def _ids(database: Database, collection: str, query: dict[str, Any]) -> list[Any]:
    return sorted(d["_id"] for d in database[collection].find(query))


def _conditions(value: Any) -> list[dict[str, Any]]:
    return [
        {"k": value},
        {"k": {"$eq": value}},
        {"k": {"$in": [value]}},
        {"k": {"$in": [value, "a", True]}},
        {"k": value, "_id": {"$ne": 3}},
    ]


@pytest.mark.parametrize("value", ASKED, ids=repr)
def test_equality_on_an_indexed_field_finds_what_a_scan_finds(
    database: Database, pair: tuple[str, str], value: Any
) -> None:
    indexed, plain = pair
    for query in _conditions(value):
        assert _ids(database, indexed, query) == _ids(database, plain, query), query


@pytest.mark.parametrize("value", ["a", str(OBJECT_ID), OBJECT_ID, True, 5, "nothing"], ids=repr)
def test_updates_and_deletes_through_the_index_touch_what_a_scan_touches(
    database: Database, value: Any
) -> None:
    results = {}
    for name, indexed in (("u_indexed", True), ("u_plain", False)):
        collection = database[name]
        collection.drop()
        if indexed:
            collection.create_index("k")
        collection.insert_many([{"_id": i, "k": v} for i, v in enumerate(STORED)])
        many = collection.update_many({"k": value}, {"$set": {"seen": 1}})
        one = collection.find_one_and_update({"k": value}, {"$inc": {"seen": 1}}, sort=[("_id", 1)])
        deleted = collection.delete_many({"k": {"$in": [value]}, "seen": 2})
        results[indexed] = (
            many.matched_count,
            one and one["_id"],
            deleted.deleted_count,
            sorted(d["_id"] for d in collection.find()),
        )
    assert results[True] == results[False]


@pytest.mark.parametrize("field", ["rowid", "OID", "_rowid_", "RowId"])
def test_field_names_sqlite_knows_as_columns_find_what_a_scan_finds(
    database: Database, field: str
) -> None:
    """SQLite reads a double-quoted rowid, oid or _rowid_ (any case) as the row number."""
    documents = [{"_id": 1, field: "x"}, {"_id": 2, field: ["x"]}, {"_id": 3, field: True}]
    answers = {}
    for indexed in (True, False):
        collection = database[f"names_{field}_{indexed}"]
        collection.drop()
        if indexed:
            collection.create_index(field)
        collection.insert_many(documents)
        found = sorted(d["_id"] for d in collection.find({field: "x"}))
        counted = collection.count_documents({field: {"$in": ["x", True]}})
        updated = collection.update_many({field: "x"}, {"$set": {"seen": 1}}).modified_count
        collection.update_one({field: True}, {"$set": {"seen": 2}}, upsert=True)
        deleted = collection.delete_many({field: "x"}).deleted_count
        answers[indexed] = (found, counted, updated, deleted, collection.count_documents({}))
    assert answers[True] == answers[False] == ([1, 2], 3, 2, 2, 1)


def _raw(*elements: bytes) -> RawBSONDocument:
    """A BSON document from its encoded elements, as a client that does not check would send."""
    body = b"".join(elements)
    return RawBSONDocument((len(body) + 5).to_bytes(4, "little") + body + b"\x00")


def _int32(name: str, value: int) -> bytes:
    return b"\x10" + name.encode() + b"\x00" + value.to_bytes(4, "little", signed=True)


def _string(name: str, data: bytes) -> bytes:
    size = (len(data) + 1).to_bytes(4, "little")
    return b"\x02" + name.encode() + b"\x00" + size + data + b"\x00"


@pytest.mark.parametrize(
    "stored", [b"\xff", b"a\xc3", "\ufffd".encode(), "x\ufffdy".encode()], ids=repr
)
def test_strings_with_invalid_utf8_or_a_replacement_character_find_what_a_scan_finds(
    database: Database, stored: bytes
) -> None:
    """Invalid UTF-8 is stored as the escape \\ufffd, a real U+FFFD as itself: one value, two
    texts, so neither may be looked up by its text."""
    wanted = stored.decode(errors="replace")
    answers = {}
    for indexed in (True, False):
        collection = database[f"utf8_{indexed}"]
        collection.drop()
        if indexed:
            collection.create_index("f")
        collection.insert_many([_raw(_int32("_id", 1), _string("f", stored)), {"_id": 2, "f": "a"}])
        answers[indexed] = (
            sorted(d["_id"] for d in collection.find({"f": wanted})),
            collection.count_documents({"f": {"$in": [wanted, "zz"]}}),
            collection.update_many({"f": wanted}, {"$set": {"seen": 1}}).modified_count,
        )
    assert answers[True] == answers[False]
    assert answers[True][0] == [1]


@pytest.mark.parametrize(
    "filter_",
    [
        _raw(_string("_id", b"a"), _string("_id", b"b")),
        _raw(_int32("_id", 1), _int32("_id", 1)),
        _raw(_string("k", b"a"), _string("_id", b"a"), _string("_id", b"a")),
        _raw(_string("k", b"a"), _string("k", b"b")),
    ],
    ids=["two-string-ids", "two-int-ids", "indexed-and-two-ids", "indexed-twice"],
)
def test_a_filter_with_a_key_twice_gets_an_answer_not_a_dropped_connection(
    database: Database, pair: tuple[str, str], filter_: RawBSONDocument
) -> None:
    answers = []
    for name in pair:
        try:
            answers.append(sorted(d["_id"] for d in database[name].find(filter_)))
        except OperationFailure as error:  # refusing such a filter is an answer too
            answers.append(error.code)
    assert answers[0] == answers[1]
    assert database.command("ping")["ok"] == 1


def _uses_an_index(database: Database, collection: str, query: dict[str, Any]) -> bool:
    """Whether the server's plan for ``find(query)`` reads an index rather than everything:
    FerretDB returns SQLite's ``EXPLAIN QUERY PLAN`` rows, MongoDB its query planner's tree."""
    explained = database.command("explain", {"find": collection, "filter": query})
    planner = explained["queryPlanner"]
    if "Plan" in planner:  # FerretDB
        plan = " | ".join(planner["Plan"])
        return "USING INDEX" in plan and " SCAN " not in f" {plan}"
    return "IXSCAN" in str(planner["winningPlan"])


@pytest.mark.parametrize(
    "query",
    [
        {"_id": "x"},
        {"_id": OBJECT_ID},
        {"_id": {"$in": ["x", "y"]}},
        {"_id": "x", "revision": 3},
        {"k": "a"},
        {"k": {"$eq": OBJECT_ID}},
        {"k": {"$in": ["a", "b"]}},
        {"k": True},
        {"other": 1, "k": "a"},
    ],
    ids=repr,
)
def test_equality_on_an_indexed_field_is_served_by_the_index(
    database: Database, pair: tuple[str, str], query: dict[str, Any]
) -> None:
    assert _uses_an_index(database, pair[0], query)


@pytest.mark.parametrize(
    ("query", "on_mongodb"),
    [
        ({"k": 5}, True),
        ({"k": None}, True),
        ({"k": {"$gt": "a"}}, True),
        ({"k.x": "a"}, False),
        ({"plain": "a"}, False),
    ],
    ids=repr,
)
def test_what_the_patches_do_not_push_down_is_scanned_on_ferretdb(
    database: Database,
    pair: tuple[str, str],
    on_ferretdb: bool,
    query: dict[str, Any],
    on_mongodb: bool,
) -> None:
    """Numbers, null and ranges stay with FerretDB's scan (their stored texts are not one per
    value); MongoDB serves the indexed field's conditions from its index."""
    assert _uses_an_index(database, pair[0], query) is (on_mongodb and not on_ferretdb)


def test_concurrent_compare_and_sets_never_both_succeed(database: Database) -> None:
    """Eight clients race to move one revision forward; every success must be a real step."""
    clients, rounds = 8, 40
    counter = database["cas"]
    counter.drop()
    counter.insert_one({"_id": "d", "revision": 0, "steps": []})
    successes: list[int] = []
    failures: list[BaseException] = []

    def race(worker: int) -> None:
        try:
            with MongoClient(Settings().mongo_url) as client:
                mine = client[database.name]["cas"]
                for _ in range(rounds):
                    while True:
                        seen = mine.find_one({"_id": "d"})["revision"]
                        result = mine.update_one(
                            {"_id": "d", "revision": seen},
                            {"$set": {"revision": seen + 1}, "$push": {"steps": worker}},
                        )
                        if result.matched_count:
                            successes.append(worker)
                            break
        except BaseException as error:  # reported below: a thread's failure must fail the test
            failures.append(error)

    threads = [threading.Thread(target=race, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    final = counter.find_one({"_id": "d"})
    assert len(successes) == clients * rounds
    assert final["revision"] == clients * rounds
    assert len(final["steps"]) == clients * rounds
