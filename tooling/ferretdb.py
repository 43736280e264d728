"""FerretDB 1.24.2 as the local MongoDB-protocol server: built with the project's patches
from the Go module proxy, cached per patch set, started, and restarted on a new build.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from shared.config import Settings
from tooling.provision import (
    ProvisionError,
    console,
    is_loopback,
    mongo_address,
    mongo_reachable,
    port_open,
    require_program,
    run,
    wait_until,
)

FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.2"
#: FerretDB 1.24.2's go.mod toolchain line; fetched only when the machine's Go is older than 1.21.
GO_TOOLCHAIN = "go1.24.3"
FERRETDB_TIMEOUT = 60.0
#: The Debian image's Go lives here even when it is not on PATH.
GO_FALLBACK = Path("/usr/local/go/bin/go")
#: Where Debian's golang-go package puts it.
DEBIAN_GO = Path("/usr/lib/go/bin/go")

#: Our changes to FerretDB, applied in name order at build time; each file's header says why.
FERRETDB_PATCHES = tuple(sorted((Path(__file__).parent / "ferretdb_patches").glob("*.patch")))


def ensure_ferretdb(settings: Settings) -> None:
    """Make ``DC_MONGO_URL`` answer: start the project's FerretDB build when nothing does.

    A FerretDB that this project started earlier from another build (an older one, or one
    without today's patches) is stopped and started again on the current build; any other
    server that answers is the user's and left alone.
    """
    host, port = mongo_address(settings.mongo_url)
    where = f"{host}:{port}"
    home = settings.state_dir / "ferretdb"
    if mongo_reachable(settings.mongo_url):
        running = _our_ferretdb(home, _listen_addr(host, port))
        if running is None:
            console.print(f"MongoDB: reachable at {where}, nothing to do")
            if _is_ferretdb(settings.mongo_url):
                console.print(
                    f"MongoDB: the FerretDB at {where} was not started by this project; unless "
                    "it carries the patches in tooling/ferretdb_patches, its queries "
                    "scan and its updates are not atomic (README: The local database)",
                    style="yellow",
                )
            return
        binary = ferretdb_binary(settings.state_dir)
        if running.executable == binary:
            console.print(f"MongoDB: our FerretDB build {binary.name} answers at {where}")
            return
        console.print(
            f"MongoDB: our FerretDB at {where} runs {running.executable.name}, not the current "
            f"build {binary.name}; restarting it"
        )
        stop_ferretdb(running.pid)
    if not is_loopback(host):
        raise ProvisionError(
            f"MongoDB at {where} (DC_MONGO_URL) is unreachable; only a server on this machine "
            "(127.0.0.1/localhost) is started automatically"
        )
    if port_open(host, port):
        raise ProvisionError(
            f"something listens at {where} but does not answer a MongoDB ping; "
            "stop it or point DC_MONGO_URL elsewhere"
        )
    console.print(f"MongoDB: nothing answers at {where}, starting FerretDB {FERRETDB_VERSION}")
    start_ferretdb(ferretdb_binary(settings.state_dir), host, port, home)


def _is_ferretdb(url: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        with MongoClient(url, serverSelectionTimeoutMS=1500) as client:
            return "ferretdbVersion" in client.admin.command("buildInfo")
    except PyMongoError:
        return False


class RunningFerretDB(NamedTuple):
    """A FerretDB process this project started (found through its pid file)."""

    pid: int
    #: The binary the process runs (``/proc/<pid>/exe``).
    executable: Path


def _listen_addr(host: str, port: int) -> str:
    return f"{f'[{host}]' if ':' in host else host}:{port}"


def _our_ferretdb(home: Path, listen_addr: str) -> RunningFerretDB | None:
    """The FerretDB process this project started with ``home`` as its state dir, listening
    at ``listen_addr`` (``host:port``), if it runs."""
    try:
        pid = int((home / "ferretdb.pid").read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        executable = Path(os.readlink(f"/proc/{pid}/exe"))
    except (OSError, ValueError):
        return None
    if f"--state-dir={home}".encode() not in command:
        return None  # the pid was reused by another process
    if f"--listen-addr={listen_addr}".encode() not in command:
        return None  # ours, but serving another address than the one asked for
    # A binary replaced on disk shows as "<path> (deleted)": it is not the current build.
    return RunningFerretDB(pid, executable)


def stop_ferretdb(pid: int, timeout: float = 30.0) -> None:
    """Stop a FerretDB process: SIGTERM, then SIGKILL if it is still there after ``timeout``
    seconds; ProvisionError if even SIGKILL leaves it running ``timeout`` seconds later."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        else:
            return
    raise ProvisionError(f"FerretDB (pid {pid}) does not stop, even after SIGKILL")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def start_ferretdb(binary: Path, host: str, port: int, home: Path) -> subprocess.Popen[bytes]:
    """Start ``binary`` on ``host:port`` with its SQLite files under ``home/data``.

    Returns the running process once it answers a ping; raises ProvisionError (after killing
    it) if it exits or does not answer within FERRETDB_TIMEOUT seconds. The pid goes to
    ``home/ferretdb.pid`` and the output to ``home/ferretdb.log``.
    """
    where = f"{host}:{port}"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    log_path = home / "ferretdb.log"
    command = [
        os.fspath(binary),
        "--handler=sqlite",
        # WAL with synchronous=NORMAL: a commit survives a crash of any process (the kill -9
        # tests) but not a power cut; it doubles FerretDB's write rate on this small disk.
        f"--sqlite-url=file:{data}/?_pragma=synchronous(normal)",
        f"--state-dir={home}",
        f"--listen-addr={_listen_addr(host, port)}",
        "--telemetry=disable",
        "--log-level=error",  # at warn it logs every client's endSessions
        # "-" turns the metrics/pprof listener off; its default port 8088 may be taken.
        "--debug-addr=-",
    ]
    with log_path.open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (home / "ferretdb.pid").write_text(f"{process.pid}\n")
    console.print(f"started FerretDB {binary.name} (pid {process.pid}, data in {data})")
    url = f"mongodb://{f'[{host}]' if ':' in host else host}:{port}/"
    try:
        wait_until(
            f"FerretDB at {where}",
            lambda: mongo_reachable(url, timeout_ms=500),
            FERRETDB_TIMEOUT,
            alive=lambda: process.poll() is None,
            hint=f"See {log_path}.",
        )
    except ProvisionError:
        if process.poll() is None:
            process.kill()
        raise
    return process


def ferretdb_build_id(patches: Sequence[Path] = FERRETDB_PATCHES) -> str:
    """The name of a build: FerretDB's version and a digest of the patches' names and text.

    ``v1.24.2-published`` without patches; otherwise ``v1.24.2-<12 hex digits>``, so editing,
    adding or removing a patch makes another binary.
    """
    if not patches:
        return f"{FERRETDB_VERSION}-published"
    digest = hashlib.sha256()
    for patch in patches:
        digest.update(patch.name.encode() + b"\0" + patch.read_bytes() + b"\0")
    return f"{FERRETDB_VERSION}-{digest.hexdigest()[:12]}"


def ferretdb_binary(state_dir: Path, patches: Sequence[Path] = FERRETDB_PATCHES) -> Path:
    """The cached FerretDB binary for ``patches``, built from the Go module proxy's source
    with them applied (``git apply``) when missing: ``<state_dir>/bin/ferretdb-<build id>``.
    """
    binary = state_dir / "bin" / f"ferretdb-{ferretdb_build_id(patches)}"
    if _ferretdb_version_ok(binary):
        return binary
    go = find_go()
    binary.parent.mkdir(parents=True, exist_ok=True)
    # The default GOTOOLCHAIN here is "local"; "auto" lets an older Go fetch the 1.24 that
    # FerretDB's go.mod asks for (from the Go module proxy, like any module).
    env = {"GOTOOLCHAIN": "auto", "CGO_ENABLED": "0"}
    with tempfile.TemporaryDirectory(prefix="ferretdb-build-", dir=binary.parent) as tmp:
        work = Path(tmp)
        module = f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"
        out = run(
            [go, "mod", "download", "-json", module],
            f"downloading {module} (Go module proxy)",
            env=env,
            cwd=work,
        )
        source = Path(_json_field(out, "Dir"))
        tree = work / "src"
        shutil.copytree(source, tree)
        _make_writable(tree)
        # The module ships no version.txt (it is generated from git); without it the binary
        # panics at start with "Invalid build/version/version.txt file content".
        (tree / "build" / "version" / "version.txt").write_text(f"{FERRETDB_VERSION}\n")
        _apply_patches(tree, patches)
        built = work / "ferretdb"
        run(
            [go, "build", "-trimpath", "-buildvcs=false", "-o", built, "./cmd/ferretdb"],
            f"building FerretDB {binary.name} with {go} (a minute or two the first time)",
            env=env,
            cwd=tree,
        )
        built.replace(binary)
    if not _ferretdb_version_ok(binary):
        raise ProvisionError(f"the FerretDB built at {binary} does not report {FERRETDB_VERSION}")
    return binary


def _apply_patches(tree: Path, patches: Sequence[Path]) -> None:
    if not patches:
        return
    git = require_program("git", "git")
    for patch in patches:
        # `git apply` works outside a repository and refuses a patch that does not fit.
        run([git, "apply", "--whitespace=nowarn", patch], f"applying {patch.name}", cwd=tree)


def _ferretdb_version_ok(binary: Path) -> bool:
    if not binary.exists():
        return False
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and f"version: {FERRETDB_VERSION}" in result.stdout


def find_go() -> Path:
    """A Go toolchain of at least 1.21 (installing golang-go if none, then fetching the
    release FerretDB asks for if it is older).

    Raises:
      ProvisionError: No Go can be installed or run.
    """
    go = require_program("go", "golang-go", GO_FALLBACK, DEBIAN_GO)
    if _go_version(go) < (1, 21):
        # Debian 12's Go is 1.19, too old for FerretDB and for GOTOOLCHAIN switching.
        go = fetch_go_toolchain(go)
    return go


def _go_version(go: Path) -> tuple[int, int]:
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ProvisionError(f"{go} does not run: {error}") from error
    match = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(match[1]), int(match[2])) if match else (0, 0)


def fetch_go_toolchain(go: Path) -> Path:
    """The Go release FerretDB asks for, as the Go module proxy serves it (golang.org/toolchain)."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    module = f"golang.org/toolchain@v0.0.1-{GO_TOOLCHAIN}.linux-{arch}"
    with tempfile.TemporaryDirectory() as outside_any_module:
        out = run(
            [go, "mod", "download", "-json", module],
            f"downloading {GO_TOOLCHAIN} (Go module proxy)",
            cwd=Path(outside_any_module),
        )
    root = Path(_json_field(out, "Dir"))
    # Module zips carry no file modes; `go` does the same chmod when it switches toolchains.
    for tool in [*root.glob("bin/*"), *root.glob("pkg/tool/*/*")]:
        tool.chmod(tool.stat().st_mode | 0o555)
    return root / "bin" / "go"


def _json_field(output: str, field: str) -> str:
    import json

    info = json.loads(output)
    if info.get("Error"):
        raise ProvisionError(f"go mod download failed: {info['Error']}")
    return str(info[field])


def _make_writable(tree: Path) -> None:
    # The module cache is read-only; the copy must be writable to add version.txt and to be
    # removable afterwards.
    for path in [tree, *tree.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
