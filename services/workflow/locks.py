"""One writer per delivery at a time within a workflow process.

FerretDB 1.24 computes an update from a read made outside the write's transaction, so two
concurrent updates of one document can both "match" and the later one silently undoes
the earlier (the compare-and-set on ``revision`` is atomic on MongoDB, not there). All
writes to a delivery in this process (applying a command, relaying its outbox) therefore
take the delivery's lock; with several workflow processes on FerretDB, the same delivery's
commands must not be applied concurrently (on MongoDB the compare-and-set suffices).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]  # nobody waits: forget it, so the table stays small
            else:
                self._locks[key] = (lock, users - 1)
