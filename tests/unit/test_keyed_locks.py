"""Per-delivery locks: one holder per key at a time, other keys unhindered, nothing kept after."""

from __future__ import annotations

import asyncio

from services.workflow.locks import KeyedLocks


async def test_one_holder_per_key_and_the_table_empties():
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}

    async def hold(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            await asyncio.sleep(0.001)
            inside[key] -= 1

    await asyncio.gather(*(hold(key) for key in "abababab"))
    assert most == {"a": 1, "b": 1}
    assert locks._locks == {}
