"""The layout states the architecture: a service imports only the shared layer, the runtime
every service runs on and its own package; the shared layer imports no service (README,
"Who may import what")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

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
