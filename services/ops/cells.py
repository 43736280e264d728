"""The cells of the operators' tables: the database the commands read, and every value it holds
shown as plain text (``shown``), never as markup or terminal control sequences, with moments
and facts worded as the pages and emails word them."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from services.ops.terminal import fail, load_settings


def _database():
    from services.runtime.collections import make_sync_mongo

    settings = load_settings()
    client = make_sync_mongo(settings)
    try:
        client.admin.command("ping")
    except Exception as error:
        fail(f"the database at {settings.mongo_url} is unreachable: {error}")
    return client[settings.mongo_db]


def _when(value: object) -> str:
    """A moment worded as the pages and emails word it (``shared.wording.when``); "-" if none."""
    from datetime import datetime

    from shared.wording import when

    return when(value) if isinstance(value, datetime) else "-"


def _named(field: str, value: object) -> str:
    """A fact of a delivery: a state or process with its name, as pages and emails name it,
    before the value the API and ``--state`` use ("Confirm delivery (awaiting_confirmation)")."""
    from shared.wording import PROCESS_LABELS, STATE_LABELS, named

    table = {"state": STATE_LABELS, "process": PROCESS_LABELS}.get(field)
    return str(value) if table is None else named(table, value)


def shown(value: object) -> Text:
    """A stored value as one table cell: plain text, never read as rich markup (``[/b]`` in a
    dispute's reason is shown, not a tag), and every character that is not printable (ESC,
    NUL, C1 controls, bidi and zero-width controls, line breaks) written as its escape, so text
    a party wrote cannot clear the operator's screen, move the cursor or reorder a line."""
    return Text(
        "".join(
            ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode()
            for ch in str(value)
        )
    )


def add_row(table: Any, *cells: object) -> None:
    """``table.add_row`` with every cell ``shown``."""
    table.add_row(*(shown(cell) for cell in cells))
