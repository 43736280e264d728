"""Run one service with timing wrappers around its database and broker calls.

    python3 -m bench.probe gateway|workflow OUT.json

The service is the real one (``services.<name>.main.main``), configured by the same ``DC_``
variables; before it is imported, this wraps, without changing any service code:

- every awaited ``AsyncCollection`` call, labelled ``db.<method>.<collection>``;
- ``services.runtime.bus.publish`` (a publish and the broker's confirm), labelled ``publish``, also
  kept per message id (when it began, how long it took);
- in the workflow, ``OutboxRelay.relay`` (``relay``; calls made inside it are labelled
  ``relay/...``) and ``Workflow.apply_command``, which also keeps, per command id, when the
  worker began applying it and how long each labelled call took for it.

Each wrapper costs two clock reads and a dictionary update (about a microsecond) beside calls
that take milliseconds. When the service stops (SIGTERM), the totals and the per-command
timings are written to OUT.json.
"""

from __future__ import annotations

import contextvars
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

import services.runtime.bus

#: Collection methods our services await, wrapped for timing.
DB_METHODS = (
    "find_one",
    "find_one_and_update",
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "delete_one",
    "delete_many",
    "count_documents",
    "create_index",
)

_scope: contextvars.ContextVar[dict[str, list[float]] | None] = contextvars.ContextVar(
    "probe_scope", default=None
)
_prefix: contextvars.ContextVar[str] = contextvars.ContextVar("probe_prefix", default="")
_lock = threading.Lock()
#: label -> [calls, seconds]
totals: dict[str, list[float]] = {}
#: command id -> {"start": wall-clock seconds, "ops": {label: [calls, seconds]}}; the label
#: ``total`` holds the whole apply
commands: dict[str, dict[str, Any]] = {}
#: message id -> [wall-clock seconds the publish began, seconds until the broker confirmed]
publishes: dict[str, list[float]] = {}


def record(label: str, seconds: float) -> None:
    label = _prefix.get() + label
    with _lock:
        entry = totals.setdefault(label, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds
    scope = _scope.get()
    if scope is not None:
        calls = scope.setdefault(label, [0, 0.0])
        calls[0] += 1
        calls[1] += seconds


def collection_label(name: str) -> str:
    return "deadlines_*" if name.startswith("deadlines_") else name


def timed(original: Callable[..., Any], label: Callable[[tuple], str]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            record(label(args), time.perf_counter() - started)

    return wrapper


def wrap_database() -> None:
    for method in DB_METHODS:
        original = getattr(AsyncCollection, method)
        setattr(
            AsyncCollection,
            method,
            timed(original, lambda args, m=method: f"db.{m}.{collection_label(args[0].name)}"),
        )


def wrap_publish() -> None:
    publish = services.runtime.bus.publish

    @functools.wraps(publish)
    async def timed_publish(broker: Any, message: Any) -> None:
        began, started = time.time(), time.perf_counter()
        try:
            await publish(broker, message)
        finally:
            seconds = time.perf_counter() - started
            record("publish", seconds)
            with _lock:
                publishes[message.message_id] = [began, seconds]

    services.runtime.bus.publish = timed_publish


def wrap_workflow() -> None:
    from services.workflow.actors import Workflow
    from services.workflow.relay import OutboxRelay

    relay = OutboxRelay.relay

    @functools.wraps(relay)
    async def timed_relay(self: Any, delivery_id: str, entries: list[dict[str, Any]]) -> None:
        token = _prefix.set("relay/")
        started = time.perf_counter()
        try:
            await relay(self, delivery_id, entries)
        finally:
            _prefix.reset(token)
            if entries:
                record("relay", time.perf_counter() - started)

    OutboxRelay.relay = timed_relay

    apply_command = Workflow.apply_command

    @functools.wraps(apply_command)
    async def timed_apply(self: Any, payload: dict[str, Any]) -> None:
        scope: dict[str, list[float]] = {}
        token = _scope.set(scope)
        began, started = time.time(), time.perf_counter()
        try:
            await apply_command(self, payload)
        finally:
            scope["total"] = [1, time.perf_counter() - started]
            _scope.reset(token)
            command_id = payload.get("command_id") if isinstance(payload, dict) else None
            with _lock:
                commands[str(command_id)] = {"start": began, "ops": scope}

    Workflow.apply_command = timed_apply


def write(out: Path, service: str) -> None:
    with _lock:
        figures = {
            "service": service,
            "totals": totals,
            "commands": commands,
            "publishes": publishes,
        }
        out.write_text(json.dumps(figures))


def main() -> None:
    service, out = sys.argv[1], Path(sys.argv[2])
    wrap_database()
    wrap_publish()
    if service == "workflow":
        wrap_workflow()
        from services.workflow.main import main as run
    elif service == "gateway":
        from services.gateway.main import main as run
    else:
        sys.exit(f"probe.py runs the gateway or the workflow, not {service!r}")
    try:
        run()
    finally:
        write(out, service)


if __name__ == "__main__":
    main()
