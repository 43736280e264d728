"""``delivery-center``: run one service in the foreground, and the operators' commands (a
delivery, lists, deadlines, figures, dead letters: ``services.ops.commands``).

A development checkout adds its own commands (``up``, ``infra``, ``token``, ``test``) from the
``tooling`` package, found through the ``delivery_center.commands`` entry-point group; the
Docker image leaves that package out, so there the group names a module that is not
installed and its commands are simply absent.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import typer

from services.ops.commands import register_operations
from services.ops.terminal import load_settings

app = typer.Typer(
    help="Delivery Center: after-sales delivery of marketplace service products.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
SERVICES = ("gateway", "workflow", "timers", "notifier")
#: Entry points in this group are ``register(app: typer.Typer) -> None`` functions that add
#: commands (packaging spec: https://packaging.python.org/en/latest/specifications/entry-points/).
COMMAND_PLUGINS = "delivery_center.commands"


def _run_service(name: str) -> None:
    # By name: this command line starts a service; it never imports one's code at start-up.
    module = importlib.import_module(f"services.{name}.main")
    load_settings()  # a bad DC_ variable ends the command with its name, not a traceback
    module.main()


@app.command()
def gateway() -> None:
    """Run the HTTP gateway in the foreground."""
    _run_service("gateway")


@app.command()
def workflow() -> None:
    """Run the workflow worker in the foreground."""
    _run_service("workflow")


@app.command()
def timers() -> None:
    """Run the timer worker in the foreground."""
    _run_service("timers")


@app.command()
def notifier() -> None:
    """Run the email notifier in the foreground."""
    _run_service("notifier")


register_operations(app)


def add_plugin_commands(target: typer.Typer) -> list[str]:
    """Add the commands of every installed ``delivery_center.commands`` entry point.

    Parameters:
      target(typer.Typer): The app each entry point's ``register`` function is called with.

    Returns:
      list[str]: Names of the entry points whose package is not installed (the Docker
      image has no ``tooling``).

    Raises:
      ImportError: A plugin's package is installed but fails to import.
    """
    absent = []
    for entry in entry_points(group=COMMAND_PLUGINS):
        try:
            register = entry.load()
        except ModuleNotFoundError as error:
            # Absent means the entry point's own module (or a package above it) is missing;
            # a module it imports being missing means it is installed but broken: say so.
            missing = error.name or ""
            if entry.module != missing and not entry.module.startswith(missing + "."):
                raise
            absent.append(entry.name)
            continue
        register(target)
    return absent


def main() -> None:
    """The ``delivery-center`` console script: add the plugins' commands, then run ``app``."""
    add_plugin_commands(app)
    app()


if __name__ == "__main__":
    main()
