"""``delivery-center`` takes the development commands from the ``delivery_center.commands``
entry points: present in a checkout, absent (not an error) in the image."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services import cli


def _with_entry_points(monkeypatch, *values: str) -> None:
    points = [EntryPoint(f"p{i}", v, cli.COMMAND_PLUGINS) for i, v in enumerate(values)]
    monkeypatch.setattr(
        cli, "entry_points", lambda group: points if group == cli.COMMAND_PLUGINS else []
    )


def _names(app: typer.Typer) -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands}


def test_the_checkout_has_up_infra_token_and_test():
    app = typer.Typer()
    assert cli.add_plugin_commands(app) == []
    assert {"up", "run", "infra", "token", "test"} <= _names(app)


def test_a_plugin_whose_package_is_not_installed_is_left_out(monkeypatch):
    _with_entry_points(monkeypatch, "no_such_tooling.cli:register")
    app = typer.Typer()
    assert cli.add_plugin_commands(app) == ["p0"]
    assert _names(app) == set()


def test_a_plugin_module_missing_from_a_package_of_that_name_is_left_out(monkeypatch):
    """Another distribution may own a top-level ``tooling`` without our ``tooling.cli``."""
    _with_entry_points(monkeypatch, "json.no_such_cli:register")
    assert cli.add_plugin_commands(typer.Typer()) == ["p0"]


def test_a_broken_plugin_is_an_error_not_an_absence(monkeypatch, tmp_path: Path):
    (tmp_path / "broken_tooling.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _with_entry_points(monkeypatch, "broken_tooling:register")
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency"):
        cli.add_plugin_commands(typer.Typer())
    sys.modules.pop("broken_tooling", None)


def test_the_operators_commands_need_no_plugin(monkeypatch):
    _with_entry_points(monkeypatch)
    result = CliRunner().invoke(cli.app, ["dlq", "--help"])
    assert result.exit_code == 0, result.output
    assert "requeue" in result.output
