"""The ``dlq`` commands: list, requeue and purge the dead letters, messages that failed for
good."""

from __future__ import annotations

from typing import Annotated

import typer

from services.ops.cells import _database, _when, add_row
from services.ops.terminal import console, err, fail, load_settings

dlq_app = typer.Typer(help="Dead letters: messages that failed for good.", no_args_is_help=True)


@dlq_app.command("list")
def dlq_list() -> None:
    """Every dead letter: its id, queue, what it was, its error, when, and how many tries."""
    from rich.table import Table

    from services.ops.dead_letters import browsing

    with browsing(load_settings().amqp_url, _database()) as (_, letters):
        table = Table("message id", "queue", "message", "error", "dead since", "tries")
        for letter in letters:
            add_row(
                table,
                letter.message_id,
                letter.queue,
                letter.summary,
                letter.error or "(not recorded)",
                _when(letter.dead_since),
                str(letter.tries),
            )
        console.print(table)
        console.print(f"{len(letters)} dead letters", style="dim")


@dlq_app.command("requeue")
def dlq_requeue(
    message_id: Annotated[str | None, typer.Argument(help="the dead letter to requeue")] = None,
    all_: Annotated[bool, typer.Option("--all", help="requeue every dead letter")] = False,
) -> None:
    """Put dead letters back on their queue, retries reset, to be processed again."""
    from rich.progress import track

    from services.ops.dead_letters import browsing, requeue

    if (message_id is None) == (not all_):
        fail("give one message id, or --all")
    with browsing(load_settings().amqp_url, _database()) as (channel, letters):
        chosen = letters if all_ else [d for d in letters if d.message_id == message_id]
        if not chosen:
            fail(f"no dead letter {message_id}")
        # A body that is no dramatiq message has no queue to go back to: it stays, to purge.
        unreadable = [d for d in chosen if not d.is_message]
        chosen = [d for d in chosen if d.is_message]
        for letter in track(chosen, description="requeueing", console=err):
            requeue(channel, letter)
    if unreadable:
        err.print(f"{len(unreadable)} dead letters are not dramatiq messages: left for purge")
    console.print(f"requeued {len(chosen)} dead letters")


@dlq_app.command("purge")
def dlq_purge(
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete every dead letter for good."""
    from services.ops.dead_letters import purge

    if not yes and not typer.confirm("Delete every dead letter for good?"):
        fail("nothing purged", code=1)
    console.print(f"purged {purge(load_settings().amqp_url, _database())} dead letters")
