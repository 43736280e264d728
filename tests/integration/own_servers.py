"""Servers a test may stop and start: a FerretDB of the test's own (RabbitMQ nodes of a
test's own are ``tooling.rabbitmq_nodes``).

Other people's tests run on the machine's shared broker and database at the same time, so a
test that takes a server down must never touch those. These start a private one on free
ports with everything (data, logs, cookie, config) in a temporary folder, and remove it after.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from tooling.ferretdb import ferretdb_binary, start_ferretdb, stop_ferretdb
from tooling.provision import free_port, mongo_reachable


@dataclass
class OwnFerretDB:
    binary: Path
    port: int
    home: Path
    process: subprocess.Popen | None = None

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        """Start (again) on the same port and data; returns once it answers a ping."""
        self.process = start_ferretdb(self.binary, "127.0.0.1", self.port, self.home)

    def stop(self) -> None:
        """SIGTERM, and wait until it is gone and no longer answers."""
        if self.process is None:
            return
        stop_ferretdb(self.process.pid)
        self.process.wait()
        self.process = None
        assert not mongo_reachable(self.mongo_url, timeout_ms=200)


@contextlib.contextmanager
def own_ferretdb() -> Iterator[OwnFerretDB]:
    """A FerretDB of the caller's own (the project's current build) on a free port."""
    home = Path(tempfile.mkdtemp(prefix="dc-ferretdb-"))
    server = OwnFerretDB(ferretdb_binary(Settings().state_dir), free_port(), home)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
