"""Every MongoDB client of the product asks for majority, journaled writes, retryable writes
and reads, and majority reads on the primary (``DURABILITY_OPTIONS``), and every database and
collection obtained from it inherits them. Checked without a server: clients connect lazily."""

from __future__ import annotations

from pymongo import ReadPreference
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from services.runtime.collections import (
    DELIVERIES,
    EMAILS,
    database,
    make_mongo,
    make_sync_mongo,
)
from shared.config import Settings

#: A port nothing listens on: nothing here may need a server.
SETTINGS = Settings(mongo_url="mongodb://127.0.0.1:9/", mongo_db="dc_unit_durability")
MAJORITY_JOURNALED = WriteConcern(w="majority", j=True)


def _assert_durable(client) -> None:
    assert client.options.retry_writes is True
    assert client.options.retry_reads is True
    for holder in (client, client[SETTINGS.mongo_db], client[SETTINGS.mongo_db][EMAILS]):
        assert holder.write_concern == MAJORITY_JOURNALED
        assert holder.read_concern == ReadConcern("majority")
        assert holder.read_preference == ReadPreference.PRIMARY


async def test_the_async_client_and_its_collections_carry_the_concerns():
    client = make_mongo(SETTINGS)
    try:
        _assert_durable(client)
        deliveries = database(client, SETTINGS)[DELIVERIES]
        assert deliveries.write_concern == MAJORITY_JOURNALED
        assert deliveries.read_concern.level == "majority"
    finally:
        await client.close()


async def test_extra_options_keep_the_concerns():
    """The gateway passes a socket timeout of its own; the concerns stay."""
    client = make_mongo(SETTINGS, socketTimeoutMS=1234)
    try:
        _assert_durable(client)
        assert client.options.pool_options.socket_timeout == 1.234
    finally:
        await client.close()


def test_the_sync_client_carries_the_concerns():
    client = make_sync_mongo(SETTINGS)
    try:
        _assert_durable(client)
    finally:
        client.close()
