"""The ``link`` commands: signed links to the pages (a delivery's, a party's list, /admin), for
people, signed with the environment's secret and URL."""

from __future__ import annotations

from typing import Annotated

import typer

from services.ops.terminal import fail
from services.runtime.links import LINK_ROLES

link_app = typer.Typer(help="Signed links to the pages, for people.", no_args_is_help=True)


def _link_settings():
    """The ``DC_`` settings read now (a link is signed with the environment's secret and URL),
    or :func:`fail` naming the invalid variable. Not ``terminal.load_settings``: its read is
    cached for the process, and ``link_main`` runs in processes that change the environment
    between runs (tests/unit/test_links.py)."""
    from shared.config import ConfigurationError, read_settings

    try:
        return read_settings()
    except ConfigurationError as error:
        fail(str(error))


@link_app.command("admin")
def link_admin() -> None:
    """Print an admin's link to /admin (it opens every delivery's page too)."""
    from services.runtime.links import admin_url

    typer.echo(admin_url(_link_settings()))


@link_app.command("delivery")
def link_delivery(
    delivery_id: str,
    party_id: str,
    role: Annotated[str, typer.Argument(help=f"one of {', '.join(sorted(LINK_ROLES))}")],
    action: Annotated[str | None, typer.Argument(help="a command whose form opens ready")] = None,
) -> None:
    """Print a party's link to a delivery's page; opening it never performs the action."""
    from services.runtime.links import page_url

    try:
        typer.echo(page_url(_link_settings(), delivery_id, party_id, role, action))
    except ValueError as error:
        fail(str(error))


@link_app.command("me")
def link_me(
    party_id: str,
    role: Annotated[str, typer.Argument(help=f"one of {', '.join(sorted(LINK_ROLES))}")],
) -> None:
    """Print a party's link to their own list of deliveries (/me); an admin's is /admin."""
    from services.runtime.list_links import list_url

    try:
        typer.echo(list_url(_link_settings(), party_id, role))
    except ValueError as error:
        fail(str(error))


def link_main(argv: list[str]) -> int:
    """``delivery-center link`` run with ``argv`` (``["admin"]``, ``["delivery", id, party,
    role[, action]]`` or ``["me", party, role]``): 0 once the link is printed, 2 with the
    usage on stderr for other arguments, 1 for ids or a role no link can be signed for."""
    command = typer.main.get_command(link_app)
    try:
        command.main(argv, prog_name="delivery-center link", standalone_mode=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 1
    return 0
