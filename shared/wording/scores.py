"""Score words: the delivery score's parts, a period's figures, shares, points and the trend
against the previous period, as the scorecard pages (``services.gateway.pages``) say them.
Part of :mod:`shared.wording`, which re-exports every name here; import from there.

Pure: no I/O; every word is a msgid read in the current reader's language. The rules:

- **Scores** (:func:`score_words`) have one decimal, as ``shared.domain.scorecard`` rounds
  them: "82.5"; a period without a delivery has "no score".
- **Shares** (:func:`share_words`) are whole percentages, rounded half up: 0.825 is "83%";
  a share of nothing (nothing it divides by happened) is "no data".
- **Periods** (:func:`period_words`): "1 Jan 2026 – 30 Jan 2026", and with their length
  (:func:`period_and_length_words`) "1 Jan 2026 – 30 Jan 2026 (30 days)", "(1 day)" for one
  (the package's plural rule, ``counted``).
- **The trend** (:func:`trend_words`) is the score minus the previous period's, to one
  decimal: "▲ +4.2" up, "▼ −3.0" down (a real minus sign), "= 0.0" unchanged (a difference
  that rounds to 0.0), and "new" when the previous period has no score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import NamedTuple

from babel.dates import format_date

from shared.wording.moments import days_words
from shared.wording.reader import N_, Words, lazy_gettext, reader

#: Each part of the score (``shared.domain.scorecard.COMPONENTS``, by name): its name.
COMPONENT_LABELS: Mapping[str, str] = Words(
    {
        "customer_confirmation": N_("Customer confirmation"),
        "no_disputes": N_("No disputes"),
        "on_time": N_("On time"),
        "first_time_right": N_("First time right"),
        "completion": N_("Completion"),
    }
)
#: The name of each figure of a period (``shared.domain.scorecard.Figures``, by field).
FIGURE_LABELS: Mapping[str, str] = Words(
    {
        "opened": N_("Opened"),
        "completed": N_("Completed"),
        "terminated": N_("Terminated"),
        "open_by_state": N_("Still open"),
        "confirmed_by_customer": N_("Confirmed by the customer"),
        "confirmed_automatically": N_("Confirmed automatically (the window ran out)"),
        "customer_confirmation_share": N_("Confirmed by the customer, of those completed"),
        "time_in_state": N_("Time in each of the ISV's states"),
        "time_in_stage": N_("Time per stage (step by step)"),
        "revision_rounds": N_("Revision rounds"),
        "revision_rounds_per_delivery": N_("Revision rounds per delivery"),
        "warranty_requests": N_("Warranty service requests"),
        "completed_warranty_deliveries": N_("Completed deliveries with a warranty"),
        "warranty_requests_per_warranty_delivery": N_("Warranty requests per warranty delivery"),
        "disputed": N_("Disputed"),
        "dispute_rate": N_("Dispute rate"),
        "terminated_after_dispute": N_("Terminated after a dispute"),
        "overdue": N_("Overdue"),
        "overdue_share": N_("Overdue share"),
    }
)
#: A score of 0–100, one decimal.
SCORE = "{score:.1f}"
NO_SCORE = lazy_gettext("no score")
#: A share of 0–1 as a whole percentage.
PERCENT = "{percent}%"
NO_DATA = lazy_gettext("no data")
#: A count per something (revision rounds per delivery), two decimals.
RATIO = "{ratio:.2f}"
#: A component's points and the most it could earn.
POINTS = lazy_gettext("{points:.1f} of {max_points:.1f}")
NOT_APPLICABLE = lazy_gettext("does not apply (no data)")
#: A period of days: ``{first}`` and ``{last}`` from :func:`day_words`.
PERIOD = lazy_gettext("{first} – {last}")
#: A period and how many days it has: ``{period}`` (:data:`PERIOD`), ``{length}`` ("90 days").
PERIOD_AND_LENGTH = lazy_gettext("{period} ({length})")
#: A day, as a CLDR date pattern (Unicode TR35), that the translation puts in its language's
#: order; without the year where the year goes without saying (a chart's axis).
DAY = lazy_gettext("d MMM y")
SHORT_DAY = lazy_gettext("d MMM")
#: The trend's arrows and words; ``{difference}`` has one decimal and no sign.
TREND_UP = "▲ +{difference}"
TREND_DOWN = "▼ −{difference}"
TREND_SAME = "= 0.0"
TREND_NEW = lazy_gettext("new")
#: The trend in a sentence, for screen readers and the arrow's title.
TREND_UP_SENTENCE = lazy_gettext("up {difference} from {previous}")
TREND_DOWN_SENTENCE = lazy_gettext("down {difference} from {previous}")
TREND_SAME_SENTENCE = lazy_gettext("unchanged from {previous}")
TREND_NEW_SENTENCE = lazy_gettext("no score in the previous period")


def score_words(score: float | None) -> str:
    """A score of 0–100 for people: "82.5"; "no score" for None."""
    return str(NO_SCORE) if score is None else SCORE.format(score=score)


def share_words(share: float | None) -> str:
    """A share of 0–1 as a whole percentage, a half rounding up: "83%"; "no data" for None."""
    if share is None:
        return str(NO_DATA)
    return PERCENT.format(percent=math.floor(share * 100 + 0.5))


def ratio_words(ratio: float | None) -> str:
    """A count per something: "0.33"; "no data" for None."""
    return str(NO_DATA) if ratio is None else RATIO.format(ratio=ratio)


def points_words(points: float | None, max_points: float | None) -> str:
    """A component's points of its most: "24.0 of 30.0"; :data:`NOT_APPLICABLE` for None."""
    if points is None or max_points is None:
        return str(NOT_APPLICABLE)
    return POINTS.format(points=points, max_points=max_points)


def day_words(day: date, *, year: bool = True) -> str:
    """A UTC day in the reader's language: "30 Jan 2026", "2026年1月30日"; "30 Jan" without
    the ``year``."""
    return format_date(day, str(DAY if year else SHORT_DAY), locale=reader().babel)


def period_words(first: date, last: date) -> str:
    """A period of days, both included: "1 Jan 2026 – 30 Jan 2026"."""
    return PERIOD.format(first=day_words(first), last=day_words(last))


def period_and_length_words(first: date, last: date) -> str:
    """A period of days and its length: "1 Jan 2026 – 30 Jan 2026 (30 days)", "(1 day)"."""
    length = days_words((last - first).days + 1)
    return PERIOD_AND_LENGTH.format(period=period_words(first, last), length=length)


class TrendWords(NamedTuple):
    """A score against the previous period's: ``direction`` (``up``, ``down``, ``same``,
    ``new``, or ``none`` when there is no score now), the ``mark`` shown ("▲ +4.2") and the
    ``sentence`` read out ("up 4.2 from 78.3"); the difference as a number (None without
    both scores)."""

    direction: str
    mark: str
    sentence: str
    difference: float | None


def trend_words(score: float | None, previous: float | None) -> TrendWords:
    """``score`` against ``previous`` (both 0–100 or None), by the module's rules."""
    if score is None:
        return TrendWords("none", "", "", None)
    if previous is None:
        return TrendWords("new", str(TREND_NEW), str(TREND_NEW_SENTENCE), None)
    difference = round(score - previous, 1)
    before = SCORE.format(score=previous)
    size = SCORE.format(score=abs(difference))
    if difference > 0:
        return TrendWords(
            "up",
            TREND_UP.format(difference=size),
            TREND_UP_SENTENCE.format(difference=size, previous=before),
            difference,
        )
    if difference < 0:
        return TrendWords(
            "down",
            TREND_DOWN.format(difference=size),
            TREND_DOWN_SENTENCE.format(difference=size, previous=before),
            difference,
        )
    return TrendWords("same", TREND_SAME, TREND_SAME_SENTENCE.format(previous=before), 0.0)
