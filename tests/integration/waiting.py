"""Waiting for the system under test: for conditions, with patience sized for a loaded machine.

A test never sleeps for a fixed time to let something happen. It waits until the thing it
needs is true, and gives up only after ``PATIENCE`` seconds. Only a failing test ever waits
that long, so the patience is sized for this machine running several test suites at once, not
for a quiet one.

"Nothing more will happen" (no duplicate email, no second transition) is shown the same way:
a worker is stopped gracefully, and its queue is found empty, so nothing it was given is
still to be handled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from tooling.vhosts import queue_depths

if TYPE_CHECKING:
    from tests.integration.system import System

#: Seconds a test waits for something the system does by itself before calling it lost.
PATIENCE = 90.0


async def until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = PATIENCE
) -> None:
    """Poll ``condition`` (a function, sync or async) until it holds; ``what`` names it."""
    deadline = time.monotonic() + timeout
    while True:
        held = condition()
        if not isinstance(held, bool):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


def waiting_messages(amqp_url: str, queue: str) -> int:
    """Messages ready in ``queue`` (0 if it does not exist); those a consumer holds unacknowledged
    are not counted until it lets them go."""
    return queue_depths(amqp_url, queue)[0]


async def stop_drained(system: System, service: str, queue: str, timeout: float = PATIENCE) -> None:
    """Stop ``service`` gracefully at a moment when ``queue`` and its delay queue are empty.

    A stopped consumer holds nothing: whatever it had not acknowledged is back in the queue.
    So once it is stopped and both queues are empty, every message it was given has been
    handled, and nothing more will come of them. The service is left stopped; ``restart``
    it if the test goes on with it.
    """
    queues = (queue, f"{queue}.DQ")
    deadline = time.monotonic() + timeout
    while True:
        await asyncio.to_thread(system.services[service].stop)
        left = {
            q: n
            for q in queues
            if (n := await asyncio.to_thread(waiting_messages, system.amqp_url, q))
        }
        if not left:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} never drained its queues within {timeout:.0f} s: {left}")
        await asyncio.to_thread(system.restart, service)
        # Running, it takes what is ready; stop it again once it has.
        await until(
            lambda: waiting_messages(system.amqp_url, queue) == 0,
            f"{service} takes the messages waiting in {queue}",
            timeout=max(deadline - time.monotonic(), 1.0),
        )


async def drain(system: System, service: str, queue: str) -> None:
    """Until ``service`` has handled everything waiting for it in ``queue``: stopped drained
    (see ``stop_drained``), then started again for the tests that follow."""
    await stop_drained(system, service, queue)
    await asyncio.to_thread(system.restart, service)
