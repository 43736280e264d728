"""A webhook receiver for tests: an HTTP server on loopback taking webhooks at
``/hooks/<name>``, each name answering as its script says and keeping every request it got.

It runs its own event loop on a thread of its own, so it answers whatever the test's loop is
doing: a test's loop blocked in a synchronous call (a fixture stopping a system, a database
query) would otherwise leave the notifier's attempts hanging until their timeout.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pymongo.database import Database


@dataclass(frozen=True)
class Hit:
    """One request the receiver got, and the status it answered."""

    headers: dict[str, str]
    body: str
    status: int

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 taking webhooks at ``/hooks/<name>``. Each name answers
    each event (by ``webhook-id``) with its script's statuses in turn, the last one for good;
    a name never given a script answers 404.

    Use it as a context manager (or :meth:`start` and :meth:`stop`).
    """

    def __init__(self) -> None:
        # Bound now, so the port is ours from the start (no race for a free port).
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.hits: dict[str, list[Hit]] = {}
        self.scripts: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def url(self, name: str, script: list[int] | None = None) -> str:
        """The URL of ``name``, answering each event with ``script`` (default: 200)."""
        with self._lock:
            self.scripts[name] = script or [200]
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    def of(self, name: str, delivery_id: str | None = None) -> list[Hit]:
        """What ``name`` got (about ``delivery_id`` only, if given), in arrival order."""
        with self._lock:
            hits = list(self.hits.get(name, []))
        return [
            hit for hit in hits if delivery_id is None or hit.event["delivery_id"] == delivery_id
        ]

    def events(self, name: str, delivery_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(``webhook-id``, event) of each request ``name`` got about ``delivery_id``."""
        return [(hit.headers["webhook-id"], hit.event) for hit in self.of(name, delivery_id)]

    async def _take(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.text()
        event_id = request.headers.get("webhook-id")
        with self._lock:
            script = self.scripts.get(name, [404])
            got = self.hits.setdefault(name, [])
            tries = sum(1 for hit in got if hit.headers.get("webhook-id") == event_id)
            status = script[min(tries, len(script) - 1)]
            got.append(Hit(dict(request.headers), body, status))
        return web.Response(status=status)

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{name}", self._take)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.SockSite(self._runner, self._socket).start()

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"webhook-receiver-{self.port}", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._socket.close()
        self._loop = self._thread = None

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def disable_endpoints_of(db: Database, receiver: Receiver) -> None:
    """Disable every endpoint in ``db`` whose URL is ``receiver``'s. A test on the session's
    system leaves it running: it would send them every later event, and once the receiver is
    gone, retry each for the rest of the session."""
    prefix = f"http://127.0.0.1:{receiver.port}/"
    db.webhook_endpoints.update_many(
        {"url": {"$regex": "^" + re.escape(prefix)}}, {"$set": {"enabled": False}}
    )
