"""One command per delivery at a time within a workflow process: an optimisation only.

Correctness does not depend on it. Commands for one delivery are serialised by the
compare-and-set on its ``revision`` (``services.workflow.apply``), across any number of
workflow processes; that needs atomic updates, which MongoDB has and FerretDB 1.24 has with
the project's patches. Without this lock, a process's worker threads would race each other
on a busy delivery and all but one would lose the compare-and-set, read and decide again.
Measured on FerretDB with 40 commands on one delivery, 8 at a time (2026-11-30): in one
process the lock took lost compare-and-sets from 59 to 0 (2.0 s to 1.7 s); with two
appliers, from 105 to 10-16 (3.3 s to 1.3-2.0 s), and without it one command even ran
out of attempts and would have waited for dramatiq's retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """One ``asyncio.Lock`` per key (a delivery id), kept only while someone holds or waits.

    Locks belong to one event loop: share an instance only among tasks of that loop.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """``async with locks.hold(delivery_id):`` waits for, then holds, that key's lock."""
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
