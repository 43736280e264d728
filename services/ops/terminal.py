"""What the ``delivery-center`` commands print with, and how they fail: one line on stderr and
exit code 1, never a traceback (README, "Operations")."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from shared.config import ConfigurationError, Settings, get_settings

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: <message>`` on stderr and exit with ``code``.

    Raises:
      typer.Exit: Always; typer turns it into the exit code.
    """
    err.print(f"error: {message}", style="bold red", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    """The ``DC_`` settings, or :func:`fail` naming the invalid variable."""
    try:
        return get_settings()
    except ConfigurationError as error:
        fail(str(error))
