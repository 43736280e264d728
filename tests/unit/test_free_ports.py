"""``tooling.provision.free_port``: processes started together (pytest-xdist workers, each
starting servers) are never handed the same port, and a port in use is skipped."""

from __future__ import annotations

import socket
import subprocess
import sys

from tooling.provision import PORT_BAND, free_port

TAKE = "from tooling.provision import free_port\nprint(*[free_port() for _ in range({n})])"


def test_processes_taking_ports_at_once_get_distinct_ports_of_the_band() -> None:
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", TAKE.format(n=60)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    ports = [int(port) for taker in takers for port in taker.communicate(timeout=60)[0].split()]
    assert all(taker.returncode == 0 for taker in takers)
    assert len(ports) == 240
    assert len(set(ports)) == 240
    assert all(port in PORT_BAND for port in ports)


def test_a_port_something_listens_on_is_skipped() -> None:
    with socket.socket() as first:
        port = free_port()
        first.bind(("127.0.0.1", port))
        first.listen()
        # Every port of the band is handed out once before any comes round again; the one
        # bound here must be passed over when the counter reaches it.
        seen = {free_port() for _ in range(len(PORT_BAND) - 1)}
    assert port not in seen
