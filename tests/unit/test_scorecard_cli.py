"""``delivery-center scorecard``'s refusals and its ranking's layout (issue 18), without a
database: an ISV id and days are refused before one is reached."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from services.ops.ranking import RANKING_HEADINGS, ranking_table
from services.ops.scorecard_commands import scorecard_app


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--isv", ""], "--isv: no ISV can have the id ''"),
        (["--isv", ".."], "neither '.' nor '..'"),
        (["--isv", "a\x00b"], r"'a\x00b'"),
        (["--isv", "x" * 201], "1 to 200 characters"),
        (["--from", "2026-01-01", "--from", "2026-02-01"], "--from is given 2 times"),
        (["--to", "2026-01-01", "--to", "2026-01-01"], "--to is given 2 times"),
        (["--from", "2026-1-1"], "--from must be a date written YYYY-MM-DD"),
        (["--from", "9999-12-31"], "--from (9999-12-31) is after today"),
        (["--to", "0001-03-31"], "--to (0001-03-31) is too early"),
    ],
)
def test_a_bad_isv_or_period_is_refused_in_one_line(args, words, monkeypatch):
    monkeypatch.setenv("DC_MONGO_URL", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1")
    result = CliRunner().invoke(scorecard_app, args)
    assert result.exit_code == 1, result.output
    assert words in result.stderr and result.stderr.startswith("error: ")
    assert "\x00" not in result.stderr and "ISV " not in result.stdout


def _cells(isv: str, score: str, previous: str) -> list[str]:
    return ["12", isv, score, previous, "▼ −100.0", "123456", "12345", "1234", "no data"] + [
        "100%",
        "no data",
    ]


@pytest.mark.parametrize("width", [80, 100, 200])
def test_the_ranking_reads_at_80_columns_without_cutting_a_word(width):
    cells = [
        _cells("isv-with-a-long-name-of-forty-characters", "no score", "100.0"),
        _cells("i", "71.9", "no score"),
    ]
    console = Console(width=width, record=True, highlight=False, soft_wrap=True)
    console.print(ranking_table(cells, "ISVs by delivery score", width))
    text = console.export_text()
    lines = text.splitlines()
    assert "…" not in text and all(len(line.rstrip()) <= width for line in lines)
    [headings] = [line for line in lines if line.split()[:2] == ["#", "ISV"]]
    assert headings.split() == list(RANKING_HEADINGS)  # whole, none cut ("prev…")
    # The long id folds onto more lines, whole; where there is room, nothing wraps.
    start = headings.index("ISV")
    folded = "".join(
        line[start:].split()[0] for line in lines[3:] if line[start : start + 1] != " "
    )
    assert folded.startswith("isv-with-a-long-name-of-forty-characters")
    if width == 200:
        assert len(lines) == 5 and "no score" in text and "▼ −100.0" in text
