"""The ranking of every ISV by delivery score, as ``delivery-center scorecard`` prints it: a
table that fits the terminal without cutting a word, the key to its headings and the count."""

from __future__ import annotations

from typing import Any

from services.ops.cells import add_row, shown
from services.ops.terminal import console

#: The ranking's headings (short, so that the table reads at 80 columns; :data:`RANKING_KEY`
#: says the abbreviated ones in full) and the column of the ISV's id, which folds.
RANKING_HEADINGS = (
    "#",
    "ISV",
    "score",
    "prev.",
    "trend",
    "opened",
    "compl.",
    "term.",
    "cust.",
    "disp.",
    "overdue",
)
RANKING_ISV_COLUMN = 1
#: Each abbreviated heading and the figure it stands for (``shared.wording.FIGURE_LABELS``).
RANKING_KEY = (
    ("prev.", "previous_score"),
    ("compl.", "completed"),
    ("term.", "terminated"),
    ("cust.", "customer_confirmation_share"),
    ("disp.", "dispute_rate"),
    ("overdue", "overdue_share"),
)


def ranking_table(cells: list[list[str]], title: str, width: int) -> Any:
    """The ranking as a rich table that fits ``width`` columns without cutting a word: the
    ISV's id folds onto more lines; every other column is as wide as its widest cell when
    that leaves the id 12 columns (or its whole width), else as wide as its longest word, its
    cells wrapping between words ("no score" on two lines). Headings are never cut ("prev…")."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    columns = list(zip(RANKING_HEADINGS, *cells, strict=True)) if cells else []
    columns = columns or [(heading,) for heading in RANKING_HEADINGS]
    widest = [max(cell_len(text) for text in column) for column in columns]
    longest_word = [
        max(cell_len(word) for text in column for word in text.split() or [""])
        for column in columns
    ]
    others = [i for i in range(len(columns)) if i != RANKING_ISV_COLUMN]
    gaps = 2 * (len(columns) - 1)
    room = width - gaps - sum(widest[i] for i in others)
    compact = room < min(widest[RANKING_ISV_COLUMN], 12)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for index, heading in enumerate(RANKING_HEADINGS):
        if index == RANKING_ISV_COLUMN:
            table.add_column(heading, overflow="fold")
        elif compact:
            table.add_column(heading, justify="right", width=longest_word[index])
        else:
            table.add_column(heading, justify="right", no_wrap=True)
    for row in cells:
        add_row(table, *row)
    return table


def print_ranking(rows: list[dict[str, Any]], period: Any) -> None:
    """Every ISV of the table, best score first, as :func:`ranking_table`, with the key to
    its headings and the count."""
    from shared.wording import (
        FIGURE_LABELS,
        counted,
        days_words,
        score_words,
        share_words,
        trend_words,
    )

    cells = [
        [
            str(rank),
            shown(row["isv_id"]).plain,
            score_words(row["score"]),
            score_words(row["previous_score"]),
            trend_words(row["score"], row["previous_score"]).mark or "-",
            str(row["opened"]),
            str(row["completed"]),
            str(row["terminated"]),
            share_words(row["customer_confirmation_share"]),
            share_words(row["dispute_rate"]),
            share_words(row["overdue_share"]),
        ]
        for rank, row in enumerate(rows, start=1)
    ]
    title = (
        f"ISVs by delivery score: deliveries opened {period.first} to {period.last} "
        f"({days_words(period.days)})"
    )
    console.print(ranking_table(cells, title, console.width))
    labels = {**FIGURE_LABELS, "previous_score": "the previous period's score"}
    key = "; ".join(
        f"{short}: {labels[name][:1].lower()}{labels[name][1:]}" for short, name in RANKING_KEY
    )
    console.print(f"{key}.", style="dim", markup=False)
    console.print(counted(len(rows), "{count} ISV", "{count} ISVs"), style="dim", markup=False)
