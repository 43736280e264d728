"""The layout states the architecture: a service imports only the shared layer, the runtime
every service runs on and its own package; the shared layer imports no service (README,
"Who may import what")."""

from __future__ import annotations

import ast
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "workflow", "timers", "notifier")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _breaches(package: Path, allowed: tuple[str, ...]) -> list[str]:
    """Imports of ``services`` modules from files under ``package`` outside ``allowed``."""
    return [
        f"{path.relative_to(package)}:{line} imports {module}"
        for path in sorted(package.rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.startswith("services.") and not module.startswith(allowed)
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_shared_the_runtime_and_itself(service: str):
    allowed = ("services.runtime.", f"services.{service}.")
    assert _breaches(ROOT / "services" / service, allowed) == []


def test_the_runtime_imports_no_service():
    assert _breaches(ROOT / "services" / "runtime", ("services.runtime.",)) == []


def test_the_shared_layer_imports_nothing_of_services():
    assert _breaches(ROOT / "shared", ("services.__never__",)) == []


def test_the_rule_sees_a_breach(tmp_path: Path):
    """The check itself: imports of another service, at the top or inside a function, are
    caught; the runtime's and the package's own are not."""
    (tmp_path / "handlers.py").write_text(
        "from services.runtime.bus import publish\n"
        "from services.gateway.errors import HttpError\n"
        "from services.timers.firing import fire\n"
        "def later():\n"
        "    import services.notifier.sending\n"
    )
    assert _breaches(tmp_path, ("services.runtime.", "services.gateway.")) == [
        "handlers.py:3 imports services.timers.firing.fire",
        "handlers.py:5 imports services.notifier.sending",
    ]


def test_the_operators_commands_import_only_the_runtime_and_themselves():
    assert _breaches(ROOT / "services" / "ops", ("services.runtime.", "services.ops.")) == []


def test_the_command_line_starts_services_by_name_and_imports_none():
    """``services/cli.py`` runs a service with ``importlib`` (by its module name), so starting
    one never loads another's code."""
    breaches = [
        f"cli.py:{line} imports {module}"
        for line, module in _imported_modules(ROOT / "services" / "cli.py")
        if module.startswith("services.") and not module.startswith("services.ops.")
    ]
    assert breaches == []


def _imports_of(root: Path, prefixes: tuple[str, ...]) -> list[str]:
    """``path:line imports module`` for imports under ``root`` of the top-level ``prefixes``."""
    return [
        f"{path.relative_to(root.parent)}:{line} imports {module}"
        for path in sorted(root.rglob("*.py"))
        for line, module in _imported_modules(path)
        if module.split(".")[0] in prefixes
    ]


@pytest.mark.parametrize("package", ["services", "shared"])
def test_what_runs_imports_no_tooling_tests_or_bench(package: str):
    """The image ships ``services`` and ``shared`` only: the local provisioning (``tooling``),
    the tests and the benchmarks are development tools."""
    assert _imports_of(ROOT / package, ("tooling", "tests", "bench")) == []


def test_only_the_deadline_book_names_its_buckets():
    """The workflow hands deadlines over (``DeadlineBook.file``) and reports read them
    (``active_due_before``); no other module reaches into the bucket collections."""
    internals = ("BUCKET_PREFIX", "BUCKET_STATES", "BUCKET_SPAN", "bucket_of", "bucket_start")
    book = ROOT / "services" / "runtime" / "deadline_book.py"
    found = [
        hit
        for root in (ROOT / "services", ROOT / "shared")
        for path in sorted(root.rglob("*.py"))
        if path != book
        for hit in (
            f"{path.relative_to(ROOT)}:{line} imports {module}"
            for line, module in _imported_modules(path)
            if module.rpartition(".")[2] in internals
        )
    ]
    found += [
        f"{path.relative_to(ROOT)} names the buckets"
        for root in (ROOT / "services", ROOT / "shared")
        for path in sorted(root.rglob("*.py"))
        if path != book and '"deadlines_' in path.read_text()
    ]
    assert found == []


def test_the_image_copies_only_what_the_services_run():
    """The Dockerfile copies the package metadata, ``shared`` and ``services``, nothing of
    ``tooling``, ``tests`` or ``bench``."""
    dockerfile = (ROOT / "services" / "Dockerfile").read_text()
    sources = {
        word
        for line in dockerfile.splitlines()
        if line.startswith(("COPY", "ADD"))
        for word in line.split()[1:-1]
        if not word.startswith("--")
    }
    assert sources == {"pyproject.toml", "README.md", "shared", "services"}


def _runtime_distributions() -> set[str]:
    """The project's runtime dependencies and everything they require, as normalized
    distribution names (development extras left out)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending = [Requirement(r) for r in project["dependencies"]]
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found.add(name)
        extras = requirement.extras or {""}
        for text in metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            if needed.marker is None or any(
                needed.marker.evaluate({"extra": extra}) for extra in extras
            ):
                pending.append(needed)
    return found


def _not_installed_with_the_image(root: Path) -> list[str]:
    """Imports under ``root`` of installed third-party packages that no runtime dependency
    provides."""
    runtime = _runtime_distributions() | {canonicalize_name("delivery-center")}
    providers = metadata.packages_distributions()
    return [
        hit
        for hit in _imports_of(root, tuple(providers))
        if not any(
            canonicalize_name(d) in runtime
            for d in providers[hit.rpartition(" imports ")[2].split(".")[0]]
        )
    ]


@pytest.mark.parametrize("package", ["services", "shared"])
def test_every_package_the_services_import_is_a_runtime_dependency(package: str):
    """A development-only package (aiosmtpd, pytest, hypothesis ...) imported by running code
    would be missing from the image."""
    assert _not_installed_with_the_image(ROOT / package) == []


def test_the_dependency_rule_sees_a_development_package(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "sink.py").write_text("import json\nimport pymongo\nfrom aiosmtpd import smtp\n")
    (code / "check.py").write_text("def later():\n    import hypothesis\n")
    assert _not_installed_with_the_image(code) == [
        "code/check.py:2 imports hypothesis",
        "code/sink.py:3 imports aiosmtpd.smtp",
    ]


def test_the_smtp_sink_is_a_development_dependency():
    assert "aiosmtpd" not in _runtime_distributions()


def _undocumented(root: Path) -> list[str]:
    """``path:line name`` of each public module-level function or class under ``root``, and
    each public method of a public class, without a docstring."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            members = [node]
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                members += [
                    n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
            found += [
                f"{path.relative_to(root.parent)}:{member.lineno} {member.name}"
                for member in members
                if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and not member.name.startswith("_")
                and ast.get_docstring(member) is None
            ]
    return found


@pytest.mark.parametrize("package", ["services", "shared", "tooling"])
def test_every_public_function_and_class_has_a_docstring(package: str):
    assert _undocumented(ROOT / package) == []


def test_the_docstring_rule_sees_a_missing_one(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "m.py").write_text(
        'def told():\n    """Told."""\n\n'
        "def untold():\n    pass\n\n"
        "def _private():\n    pass\n\n"
        "class Thing:\n    def method(self):\n        pass\n"
    )
    assert _undocumented(code) == [
        "code/m.py:4 untold",
        "code/m.py:10 Thing",
        "code/m.py:11 method",
    ]
