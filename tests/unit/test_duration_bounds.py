"""``durations.bounded_pattern`` is exactly what ``parse_duration`` accepts as text: checked
against a brute-force reading of every duration of the grammar up to a size, for several
bounds; and ``number_pattern`` against every number near its ends."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest

from shared.durations import (
    DURATION_PATTERN,
    DurationError,
    bounded_pattern,
    number_pattern,
    parse_duration,
)


@pytest.mark.parametrize("lowest", [0, 1])
@pytest.mark.parametrize("highest", [*range(1, 130), 999, 1000, 5214, 36500, 3153600000])
def test_number_pattern_is_exactly_the_range(lowest: int, highest: int) -> None:
    pattern = re.compile(f"^{number_pattern(lowest, highest)}$")
    near = {*range(0, min(highest, 300) + 30), highest - 1, highest, highest + 1, highest * 10}
    for number in near:
        assert bool(pattern.match(str(number))) is (lowest <= number <= highest), number
    assert not pattern.match(f"0{highest}")


def _texts() -> list[str]:
    """Durations of the grammar and near it: numbers, one unit, several parts."""
    numbers = ["0", "1", "9", "23", "24", "59", "60", "61", "99", "100", "1000", "3600"]
    texts = [*numbers, *(f"P{n}W" for n in numbers), *(f"P{n}D" for n in numbers)]
    for unit in "HMS":
        texts += [f"PT{n}{unit}" for n in numbers]
    for day, hours, minutes, seconds in itertools.product(
        ["", "0", "1", "3"],
        ["", "0", "1", "23", "24", "99"],
        ["", "0", "59", "60"],
        ["", "0", "59", "60"],
    ):
        time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
        texts.append("P" + (f"{day}D" if day else "") + (f"T{time}" if time else ""))
    return texts


def _accepted(text: str, at_most: timedelta) -> bool:
    try:
        parse_duration(text, at_most=at_most)
    except DurationError:
        return False
    return True


SECONDS_IN = {"W": 604800, "D": 86400, "H": 3600, "M": 60, "S": 1}
BELOW = {"H": 24, "M": 60, "S": 60}


def _rule(text: str, at_most: timedelta) -> bool:
    """The rule in words, read independently of both: the grammar, 1 s to the bound, and in
    a duration of several parts each part after the first below one of the unit before."""
    if not re.fullmatch(DURATION_PATTERN, text):
        return False
    parts = [(int(n), unit) for n, unit in re.findall("([0-9]+)([WDHMS])", text)] or [
        (int(text), "S")
    ]
    total = sum(n * SECONDS_IN[unit] for n, unit in parts)
    normal = all(n < BELOW[unit] for n, unit in parts[1:])
    return 1 <= total <= at_most.total_seconds() and normal


@pytest.mark.parametrize(
    "at_most",
    [timedelta(seconds=59), timedelta(hours=1), timedelta(days=1, hours=2), timedelta(days=3)],
)
def test_the_pattern_and_the_validator_accept_exactly_the_rule(at_most: timedelta) -> None:
    pattern = re.compile(bounded_pattern(at_most))
    for text in _texts():
        expected = _rule(text, at_most)
        assert bool(pattern.match(text)) is expected, text
        assert _accepted(text, at_most) is expected, text


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("P36500D", True),
        ("P36501D", False),
        ("3153600000", True),
        ("3153600001", False),
        ("P5214W", True),
        ("P5215W", False),
        ("P36499DT23H59M59S", True),
        ("P36500DT1S", False),
        ("P1DT36H", False),
        ("PT36H30M", True),
        ("PT876000H", True),
        ("PT876001H", False),
        ("P1DT0H", True),
        ("P0DT0H", False),
    ],
)
def test_a_warranty_period_of_up_to_100_years(text: str, valid: bool) -> None:
    assert _accepted(text, timedelta(days=36_500)) is valid
    assert bool(re.match(bounded_pattern(timedelta(days=36_500)), text)) is valid
