"""Charts drawn on the server as inline SVG: no scripts, no files, nothing from elsewhere.

Pure: each function takes numbers and words and returns SVG markup (``markupsafe.Markup``, so
a template inserts it as it is). Every text in it, labels and titles alike, is escaped here
(characters XML cannot carry become U+FFFD), and it is drawn with SVG presentation attributes
only (``fill``, ``stroke``, no ``style``), so it passes the pages' Content-Security-Policy
whatever it allows of styles.

Each chart is a ``role="img"`` with a ``<title>`` and a ``<desc>`` that say its numbers in
words (``aria-labelledby``), and each bar has its own ``<title>`` (the browser's tooltip). A
page shows the same numbers in a table beside it: the chart is the picture, not the only
place a number is.

Two charts:

- :func:`trend_chart`: a score (0–100) per period, as columns on a 0–100 axis joined by a
  line, oldest first;
- :func:`duration_bars`: per row (a state), two horizontal bars, one party's time and the
  marketplace's, on one scale, each labelled with its duration in words
  (``shared.wording.duration``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

from markupsafe import Markup

from shared.wording import NO_DATA, duration, score_words
from shared.wording.reader import _

#: The colours: the pages' accent (``base.html``), a muted grey, the grid's line.
ACCENT = "#1d4ed8"
MUTED = "#6b7280"
COMPARED = "#9ca3af"
GRID = "#e5e7eb"
INK = "#1f2937"
#: The text's font, as the page's.
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"

#: The trend chart's size in user units (it scales to its box) and its margins.
TREND_WIDTH = 560
TREND_HEIGHT = 240
_TREND_LEFT, _TREND_RIGHT, _TREND_TOP, _TREND_BOTTOM = 40, 12, 18, 44
#: The score axis's ticks.
SCORE_TICKS = (0, 25, 50, 75, 100)

#: The bars chart's width, its label column, the longest bar, one row's and one bar's height.
BARS_WIDTH = 560
BARS_LABEL_WIDTH = 180
BARS_MAX_LENGTH = 260
_BAR_ROW = 46
_BAR_HEIGHT = 14
_BARS_TOP = 30

# XML 1.0 forbids these characters even escaped (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _text(words: str) -> str:
    """``words`` safe as XML text and as an attribute value in double quotes."""
    return html.escape(_NOT_XML.sub("\ufffd", str(words)), quote=True)


def _id(chart_id: str) -> str:
    """``chart_id`` reduced to letters, digits, ``-`` and ``_``, starting with a letter (an
    XML name and a CSS-safe id)."""
    return "c-" + _ID_UNSAFE.sub("-", chart_id)


def _n(value: float) -> str:
    """A coordinate: one decimal at most, no ``-0``."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _label(
    x: float, y: float, words: str, *, anchor: str = "start", size: int = 12, fill: str = INK
) -> str:
    """A ``<text>`` of ``words`` (escaped) at (``x``, ``y``)."""
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{fill}">{_text(words)}</text>'
    )


def _open(chart_id: str, width: int, height: int, title: str, description: str) -> str:
    ident = _id(chart_id)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{ident}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="{_text(FONT)}">'
        f'<title id="{ident}-title">{_text(title)}</title>'
        f'<desc id="{ident}-desc">{_text(description)}</desc>'
    )


class TrendPoint(NamedTuple):
    """One period of :func:`trend_chart`: its ``label`` under the axis (short, e.g. the last
    day), its ``name`` in the description and tooltip (e.g. the whole period), and its
    ``score`` (0–100, None when the period has none)."""

    label: str
    name: str
    score: float | None


def score_y(score: float) -> float:
    """The trend chart's y of ``score`` (clamped to 0–100): 100 at the top of the plot."""
    plot = TREND_HEIGHT - _TREND_TOP - _TREND_BOTTOM
    return _TREND_TOP + plot * (1 - min(100.0, max(0.0, score)) / 100)


def trend_chart(points: Sequence[TrendPoint], *, chart_id: str, title: str) -> Markup:
    """The score per period as columns on a 0–100 axis, joined by a line where neighbours
    both have a score; a period without one says "no score" at the axis.

    Parameters:
      points(Sequence[TrendPoint]): Oldest first; any number (none draws the axis alone,
        saying so).
      chart_id(str): Unique on the page; its ids (``c-<chart_id>``, ``…-title``, ``…-desc``)
        keep only letters, digits, ``-`` and ``_``.
      title(str): The chart's title (escaped).

    Returns:
      Markup: One ``<svg>`` element, well-formed XML.
    """
    width, height = TREND_WIDTH, TREND_HEIGHT
    plot_width = width - _TREND_LEFT - _TREND_RIGHT
    base = score_y(0)
    said = "; ".join(f"{p.name}: {score_words(p.score)}" for p in points)
    description = (
        _("Score from 0 to 100 per period, oldest first. {scores}.").format(scores=said)
        if points
        else str(NO_DATA)
    )
    parts = [_open(chart_id, width, height, title, description)]
    for tick in SCORE_TICKS:
        y = score_y(tick)
        parts.append(
            f'<line x1="{_TREND_LEFT}" y1="{_n(y)}" x2="{width - _TREND_RIGHT}" y2="{_n(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(_label(_TREND_LEFT - 6, y + 4, str(tick), anchor="end", size=11))
    if not points:
        parts.append(_label(_TREND_LEFT + plot_width / 2, base - 60, NO_DATA, anchor="middle"))
    slot = plot_width / max(1, len(points))
    bar = min(48.0, slot * 0.6)
    centres: list[tuple[float, float] | None] = []
    for index, point in enumerate(points):
        centre = _TREND_LEFT + slot * (index + 0.5)
        parts.append(
            _label(centre, height - _TREND_BOTTOM + 18, point.label, anchor="middle", size=11)
        )
        if point.score is None:
            parts.append(_label(centre, base - 6, score_words(None), anchor="middle", size=10))
            centres.append(None)
            continue
        top = score_y(point.score)
        parts.append(
            f'<rect class="bar" x="{_n(centre - bar / 2)}" y="{_n(top)}" width="{_n(bar)}" '
            f'height="{_n(base - top)}" fill="{ACCENT}" fill-opacity="0.25">'
            f"<title>{_text(point.name)}: {_text(score_words(point.score))}</title></rect>"
        )
        parts.append(_label(centre, top - 5, score_words(point.score), anchor="middle", size=11))
        centres.append((centre, top))
    for before, after in zip(centres, centres[1:], strict=False):
        if before is not None and after is not None:
            parts.append(
                f'<line class="trend-line" x1="{_n(before[0])}" y1="{_n(before[1])}" '
                f'x2="{_n(after[0])}" y2="{_n(after[1])}" stroke="{ACCENT}" stroke-width="2"/>'
            )
    for centre in centres:
        if centre is not None:
            parts.append(
                f'<circle cx="{_n(centre[0])}" cy="{_n(centre[1])}" r="3.5" fill="{ACCENT}"/>'
            )
    parts.append(
        f'<line x1="{_TREND_LEFT}" y1="{_n(base)}" x2="{width - _TREND_RIGHT}" y2="{_n(base)}" '
        f'stroke="{MUTED}" stroke-width="1"/></svg>'
    )
    return Markup("".join(parts))


class BarRow(NamedTuple):
    """One row of :func:`duration_bars`: its ``label`` (a state's name) and the two times
    compared, in seconds (None: no data)."""

    label: str
    seconds: float | None
    compared_seconds: float | None


def bar_length(seconds: float, longest: float) -> float:
    """The length of a bar of ``seconds`` when the longest of the chart is ``longest``:
    proportional, the longest :data:`BARS_MAX_LENGTH`; 0 when nothing took any time."""
    if longest <= 0:
        return 0.0
    return BARS_MAX_LENGTH * max(0.0, seconds) / longest


def duration_bars(
    rows: Sequence[BarRow],
    *,
    chart_id: str,
    title: str,
    legend: tuple[str, str],
) -> Markup:
    """Two horizontal bars per row on one scale, one party's time (accent colour) and the
    other it is compared with (grey), each labelled with its duration in words.

    Parameters:
      rows(Sequence[BarRow]): In the order shown; none draws the legend and "no data".
      chart_id(str): Unique on the page (see :func:`trend_chart`).
      title(str): The chart's title (escaped).
      legend(tuple[str, str]): The names of the two bars of a row, e.g. ("This ISV",
        "Marketplace"); escaped.

    Returns:
      Markup: One ``<svg>`` element, well-formed XML.
    """
    width = BARS_WIDTH
    height = _BARS_TOP + _BAR_ROW * max(1, len(rows)) + 6
    mine, theirs = legend

    def said(seconds: float | None) -> str:
        return NO_DATA if seconds is None else duration(timedelta(seconds=seconds))

    description = "; ".join(
        _("{state}: {mine} {time}, {theirs} {compared}").format(
            state=row.label,
            mine=mine,
            time=said(row.seconds),
            theirs=theirs,
            compared=said(row.compared_seconds),
        )
        for row in rows
    )
    parts = [_open(chart_id, width, height, title, f"{description}." if rows else NO_DATA)]
    for index, (name, colour) in enumerate(((mine, ACCENT), (theirs, COMPARED))):
        x = BARS_LABEL_WIDTH + index * 150
        parts.append(
            f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>'
            + _label(x + 18, 18, name, size=12)
        )
    if not rows:
        parts.append(_label(BARS_LABEL_WIDTH, _BARS_TOP + 24, NO_DATA))
    longest = max(
        (s for row in rows for s in (row.seconds, row.compared_seconds) if s is not None),
        default=0.0,
    )
    for index, row in enumerate(rows):
        top = _BARS_TOP + index * _BAR_ROW
        parts.append(_label(BARS_LABEL_WIDTH - 8, top + _BAR_HEIGHT + 5, row.label, anchor="end"))
        for offset, (who, seconds, colour) in enumerate(
            ((mine, row.seconds, ACCENT), (theirs, row.compared_seconds, COMPARED))
        ):
            y = top + 2 + offset * (_BAR_HEIGHT + 4)
            words = said(seconds)
            length = 0.0 if seconds is None else bar_length(seconds, longest)
            if seconds is not None:
                parts.append(
                    f'<rect class="bar" x="{BARS_LABEL_WIDTH}" y="{y}" width="{_n(length)}" '
                    f'height="{_BAR_HEIGHT}" fill="{colour}">'
                    f"<title>{_text(row.label)}, {_text(who)}: {_text(words)}</title></rect>"
                )
            parts.append(_label(BARS_LABEL_WIDTH + length + 6, y + _BAR_HEIGHT - 3, words, size=11))
        parts.append(
            f'<line x1="{BARS_LABEL_WIDTH}" y1="{top}" x2="{BARS_LABEL_WIDTH}" '
            f'y2="{top + 2 * _BAR_HEIGHT + 8}" stroke="{MUTED}" stroke-width="1"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
