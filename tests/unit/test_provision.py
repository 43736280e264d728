"""The pure parts of local provisioning: which addresses we may provision, and where they are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tooling.ferretdb import (
    FERRETDB_PATCHES,
    FERRETDB_VERSION,
    _our_ferretdb,
    ferretdb_binary,
    ferretdb_build_id,
    stop_ferretdb,
)
from tooling.provision import amqp_address, is_loopback, mongo_address


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "db.localhost", "::1", "[::1]"]
)
def test_loopback_hosts_may_be_provisioned(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["rabbitmq", "mongo", "10.0.0.5", "192.168.1.1", "0.0.0.0", "example.com", "::", ""]
)
def test_other_hosts_are_never_provisioned(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/%2F", ("127.0.0.1", 5672)),
        ("amqp://guest:guest@localhost/%2F", ("localhost", 5672)),
        ("amqps://u:p@broker.example.com/vhost", ("broker.example.com", 5671)),
        ("amqp://rabbitmq:5673", ("rabbitmq", 5673)),
    ],
)
def test_amqp_address(url: str, address: tuple[str, int]) -> None:
    assert amqp_address(url) == address


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mongodb://127.0.0.1:27017/", ("127.0.0.1", 27017)),
        ("mongodb://localhost", ("localhost", 27017)),
        ("mongodb://user:p%40ss@127.0.0.1:27117/db?authSource=admin", ("127.0.0.1", 27117)),
        ("mongodb://a.example:27018,b.example:27019/?replicaSet=rs0", ("a.example", 27018)),
        ("mongodb://[::1]:27017/", ("::1", 27017)),
    ],
)
def test_mongo_address(url: str, address: tuple[str, int]) -> None:
    assert mongo_address(url) == address


def test_the_build_id_names_the_version_and_changes_with_any_patch(tmp_path: Path) -> None:
    first, second = tmp_path / "0001-a.patch", tmp_path / "0002-b.patch"
    first.write_text("one")
    second.write_text("two")
    both = ferretdb_build_id([first, second])
    assert ferretdb_build_id([]) == f"{FERRETDB_VERSION}-published"
    assert both.startswith(f"{FERRETDB_VERSION}-") and both == ferretdb_build_id([first, second])
    assert ferretdb_build_id([first]) != both
    renamed = second.rename(tmp_path / "0003-b.patch")
    assert ferretdb_build_id([first, renamed]) != both
    renamed.write_text("two, edited")
    assert ferretdb_build_id([first, renamed]) not in (both, ferretdb_build_id([first]))


def test_the_provisioned_build_carries_the_repository_patches() -> None:
    assert [p.name[:4] for p in FERRETDB_PATCHES] == ["0001", "0002", "0003"]
    assert ferretdb_binary.__defaults__ == (FERRETDB_PATCHES,)


def test_only_a_process_started_with_our_state_dir_counts_as_our_ferretdb(tmp_path: Path) -> None:
    home = tmp_path / "ferretdb"
    home.mkdir()
    address = "127.0.0.1:27017"
    assert _our_ferretdb(home, address) is None  # no pid file
    (home / "ferretdb.pid").write_text("not a pid\n")
    assert _our_ferretdb(home, address) is None
    # A live process that is not FerretDB started by us: this very test runner.
    (home / "ferretdb.pid").write_text(f"{os.getpid()}\n")
    assert _our_ferretdb(home, address) is None
    # A stand-in whose command line names our state dir, listening at 27017.
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; time.sleep(30)",
            f"--state-dir={home}",
            f"--listen-addr={address}",
        ]
    )
    try:
        (home / "ferretdb.pid").write_text(f"{stand_in.pid}\n")
        running = _our_ferretdb(home, address)
        assert running is not None and running.pid == stand_in.pid
        # Ours, but not the server asked for: another port is somebody else's.
        assert _our_ferretdb(home, "127.0.0.1:27037") is None
        assert _our_ferretdb(tmp_path / "elsewhere", address) is None
    finally:
        stand_in.kill()
        stand_in.wait()


def test_stopping_a_server_that_ignores_sigterm_ends_with_sigkill() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        stop_ferretdb(stubborn.pid, timeout=0.5)
        assert stubborn.wait(timeout=10) == -signal.SIGKILL
    finally:
        stubborn.kill()
        stubborn.wait()
