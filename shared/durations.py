"""Durations at the edges: whole seconds or an ISO 8601 duration in whole units, positive, bounded.

One grammar serves settings (``DC_CONFIRM_WINDOW`` ...), commands (``warranty_period``) and the
CLI's ``token --ttl``; the bus's JSON Schemas carry the same grammar as :data:`DURATION_PATTERN`.

Accepted:

* whole seconds: a JSON integer (``30``; also ``30.0``, which JSON Schema counts an integer,
  Validation 2020-12 §6.1.1) or a string of decimal digits (``"30"``), as environment
  variables arrive;
* an ISO 8601 duration (ISO 8601-1:2019 §5.5.2.4, the form of RFC 3339 Appendix A) with the
  designators ``W`` alone, or ``D``, ``H``, ``M``, ``S`` in that order, e.g. ``P14D``,
  ``PT30S``, ``P1DT12H``, ``P2W``.

Refused: fractions (``PT0.5S``, ``0.5``), years and months (``P1Y``, ``P1M``: their length in
days varies), signs, zero, whitespace, lower case, leading zeros, ``true``/``false``, clock forms
such as ``1:00:00``, and anything above the bound each use declares.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from shared.validation_errors import quoted

_NUMBER = r"(?:0|[1-9][0-9]*)"
#: The grammar of a duration written as text (JSON Schema ``pattern``, ECMA-262 and Python).
#: ``(?=.*[1-9])`` refuses zero: a duration is zero exactly when it has no non-zero digit.
#: ``$(?!\n)``: Python's ``$`` also matches before a final newline, ECMA-262's does not.
DURATION_PATTERN = (
    r"^(?:[1-9][0-9]*"
    rf"|P(?=.*[1-9])(?:{_NUMBER}W"
    rf"|(?:{_NUMBER}D)?(?:T(?=[0-9])(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?))$(?!\n)"
)
_GRAMMAR = re.compile(DURATION_PATTERN)
_PARTS = re.compile(r"([0-9]+)([WDHMS])")
#: In the grammar M follows T, so it is always minutes.
_SECONDS_IN = {"W": 7 * 86400, "D": 86400, "H": 3600, "M": 60, "S": 1}
#: Numbers of more digits are beyond every bound (the largest is 100 years, 10 digits of
#: seconds); they count as this many seconds instead of being converted.
_LONGEST_NUMBER = 15
_BEYOND_EVERY_BOUND = 10**_LONGEST_NUMBER
#: What follows the P of an ISO 8601 duration of the grammar.
_ISO_CHARACTERS = frozenset("0123456789TWDHMS")

RULE = (
    "a duration is whole seconds (like 30) or ISO 8601 like P14D or PT30S, in weeks, days, "
    "hours, minutes and seconds; fractions are not allowed"
)


class DurationError(ValueError):
    """A value that is not a duration this project accepts; the message names the rule."""


def _refuse(reason: str) -> DurationError:
    return DurationError(f"{reason}; {RULE}")


def _why_text_is_refused(text: str) -> str:
    """What is wrong with ``text`` (outside the grammar), in words naming the fault."""
    shown = repr(text[:40])
    upper = text.upper()
    if not text:
        return "the text is empty"
    if any(c.isspace() for c in text):
        return f"{shown} holds whitespace"
    if "." in text or "," in text:
        return f"{shown} has a fraction"
    if "+" in text or "-" in text:
        return f"{shown} has a sign; a duration is positive and unsigned"
    if upper.startswith("P") and re.search("[YM]", upper.partition("T")[0]):
        return f"{shown} counts years or months, which vary in length; give days (P365D)"
    if ":" in text:
        return f"{shown} is a clock time, not a duration"
    if _GRAMMAR.match(upper):
        return f"{shown} has lower case letters; designators are upper case"
    why = _why_iso_is_refused(text) if upper.startswith("P") else _why_seconds_are_refused(text)
    return f"{shown} {why}"


def _why_seconds_are_refused(text: str) -> str:
    """Why ``text`` (not starting with P) is not whole seconds in digits."""
    odd = next((c for c in text if c not in "0123456789"), None)
    if odd is None:
        if not re.search("[1-9]", text):
            return "is zero; a duration is more than zero"
        return "has a number with a leading zero"
    if not text[0].isdigit():
        return "is neither whole seconds (digits) nor an ISO 8601 duration (starting with P)"
    if odd.isdigit():  # full-width, Arabic-Indic …: digits to str.isdigit, not to the grammar
        return f"has {odd!r}, which is not an ASCII digit (0-9)"
    return f"has {odd!r}, which is not a digit (0-9); whole seconds are digits alone"


def _why_iso_is_refused(text: str) -> str:
    """Why ``text`` (starting with P or p; no sign, fraction or years/months) is no ISO 8601
    duration of the grammar. Judged upper-cased: lower case alone is reported before."""
    body = text[1:].upper()
    odd = next((c for c in text[1:] if c.upper() not in _ISO_CHARACTERS), None)
    if odd in ("P", "p"):
        return "has P more than once; one P starts the duration"
    if odd is not None:
        return f"has {odd!r}, which is not a digit or a designator (W, D, T, H, M, S)"
    if body.count("T") > 1:
        return "has T more than once; one T comes before hours, minutes and seconds"
    date, has_time, time = body.partition("T")
    if not date and not time:
        return "has no number and unit after P" + (" and T" if has_time else "")
    if has_time and not time:
        return "has a T with no hours, minutes or seconds after it"
    if re.search("W.", body) or ("W" in date and "D" in date):
        return "combines weeks with other units; write weeks alone (like P2W), or days (like P16D)"
    for part, units, misplaced in ((date, "WD", "HMS"), (time, "HMS", "WD")):
        if re.search("[0-9]$", part):
            return "ends a number without its unit (W, D, H, M or S)"
        pairs = re.findall("([0-9]*)([A-Z])", part)
        for digits, unit in pairs:
            if not digits:
                return f"has {unit} without a number before it"
            if unit in misplaced:
                where = "after T" if part is time else "before T (write PT1H, not P1H)"
                return f"has {unit} {where}; weeks and days come before T, the rest after it"
        order = [units.index(unit) for _, unit in pairs]
        if len(set(order)) < len(order):
            return "has the same unit twice"
        if order != sorted(order):
            return f"has its units out of order; they come as {', '.join(units)}"
    if re.search(r"(?<![0-9])0[0-9]", body):
        return "has a number with a leading zero"
    if not re.search("[1-9]", body):
        return "is zero; a duration is more than zero"
    return "is not a duration"


def seconds_of(text: str) -> int:
    """The whole seconds ``text`` names: ``"30"`` → 30, ``"P1DT1H"`` → 90000.

    Parameters:
      text(str): Digits, or an ISO 8601 duration of the module's grammar.

    Returns:
      int: Seconds (weeks of 7 days, days of 86,400 s: no calendar, no leap seconds).
      Numbers of more than 15 digits count as 10**15 s (over every bound).

    Raises:
      DurationError: ``text`` is outside :data:`DURATION_PATTERN` (zero included).
    """
    if not _GRAMMAR.match(text):
        raise _refuse(_why_text_is_refused(text))
    parts = [(text, "S")] if text[0] != "P" else _PARTS.findall(text)
    if any(len(digits) > _LONGEST_NUMBER for digits, _ in parts):
        return _BEYOND_EVERY_BOUND
    return sum(int(digits) * _SECONDS_IN[designator] for digits, designator in parts)


def number_pattern(lowest: int, highest: int) -> str:
    """A regular expression for the decimal numbers ``lowest..highest`` (``lowest`` is 0 or
    1), written without leading zeros: ``number_pattern(1, 250)`` is
    ``(?:[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|250)``. ECMA-262 and Python alike.

    Raises:
      ValueError: ``highest`` below ``lowest``, or ``lowest`` other than 0 or 1.
    """
    if lowest not in (0, 1) or highest < lowest:
        raise ValueError(f"no numbers from {lowest} to {highest}")
    top = str(highest)
    alternatives = ["0"] if lowest == 0 else []
    if len(top) > 1:  # every number shorter than the highest
        alternatives.append("[1-9]" + (f"[0-9]{{0,{len(top) - 2}}}" if len(top) > 2 else ""))
    # Numbers as long as the highest: its first k digits, then a smaller digit, then any.
    for k, digit in enumerate(top):
        smallest = 1 if k == 0 else 0
        if int(digit) > smallest:
            rest = len(top) - k - 1
            below = f"[{smallest}-{int(digit) - 1}]" if int(digit) - 1 > smallest else str(smallest)
            alternatives.append(top[:k] + below + (f"[0-9]{{{rest}}}" if rest else ""))
    alternatives.append(top)
    if highest == 0:
        alternatives = ["0"]
    return "(?:" + "|".join(dict.fromkeys(alternatives)) + ")"


#: The parts after the first of an ISO duration of several parts are each below one of the
#: unit before it: hours under 24, minutes and seconds under 60.
_BELOW = {"H": 24, "M": 60, "S": 60}
_TIME_UNITS = ("H", "M", "S")


def _largest_rest(units: tuple[str, ...]) -> int:
    return sum((_BELOW[unit] - 1) * _SECONDS_IN[unit] for unit in units)


def _rest_pattern(units: tuple[str, ...], bound: int) -> str:
    """Later parts over ``units`` (each optional, in order, each below its ``_BELOW``) whose
    seconds add up to at most ``bound``: exactly, by taking the few largest first numbers
    one by one with what they leave for the rest."""
    if not units or bound < 0:
        return ""
    unit, later = units[0], units[1:]
    seconds, cap = _SECONDS_IN[unit], _BELOW[unit] - 1
    highest = min(cap, bound // seconds)
    free = min(highest, (bound - _largest_rest(later)) // seconds)
    options = []
    if free >= 0:
        options.append(
            f"{number_pattern(0, free)}{unit}{_rest_pattern(later, _largest_rest(later))}"
        )
    for n in range(max(free + 1, 0), highest + 1):
        options.append(f"{n}{unit}{_rest_pattern(later, bound - n * seconds)}")
    # With ``bound`` >= 0 there is always an option (0 of this unit, at least); the last
    # alternative leaves this unit out.
    return f"(?:(?:{'|'.join(options)})|{_rest_pattern(later, bound)})"


def bounded_pattern(at_most: timedelta) -> str:
    """The durations of the grammar from 1 second to ``at_most``, as one regular expression
    (ECMA-262 and Python alike): exactly what :func:`parse_duration` accepts as text.

    Whole seconds, weeks alone, or days, hours, minutes and seconds in order; in a duration
    of several parts each part after the first is below one of the unit before it
    (``P1DT23H59M59S`` and ``PT36H30M``, not ``P1DT36H``), and the first part goes as far as
    the bound lets the rest. A regular expression cannot add; this one lists the few largest
    first parts one by one with what each leaves for the rest.

    Raises:
      ValueError: ``at_most`` is less than a second.
    """
    longest = int(at_most.total_seconds())
    if longest < 1:
        raise ValueError(f"{at_most} is not more than zero")
    forms = [number_pattern(1, longest)]
    if longest >= _SECONDS_IN["W"]:
        forms.append(f"P{number_pattern(1, longest // _SECONDS_IN['W'])}W")
    for first in ("D", *_TIME_UNITS):
        later = _TIME_UNITS if first == "D" else _TIME_UNITS[_TIME_UNITS.index(first) + 1 :]
        seconds = _SECONDS_IN[first]
        highest = longest // seconds
        free = min(highest, (longest - _largest_rest(later)) // seconds)
        heads = []
        if free >= 0:
            heads.append((number_pattern(0, free), _largest_rest(later)))
        heads += [(str(n), longest - n * seconds) for n in range(max(free + 1, 0), highest + 1)]
        for head, left in heads:
            rest = _rest_pattern(later, left)
            if first == "D":
                tail = f"(?:T(?=[0-9]){rest})?" if rest else ""
                forms.append(f"P(?=.*[1-9]){head}D{tail}")
            else:
                forms.append(f"P(?=.*[1-9])T{head}{first}{rest}")
    return "^(?:" + "|".join(forms) + ")$(?!\\n)"


def parse_duration(value: object, *, at_most: timedelta) -> timedelta:
    """A duration from a JSON value, an environment string or a :class:`timedelta`.

    Parameters:
      value(object): An int or integral float of seconds, a string (see the module's
        grammar) or a timedelta of whole seconds.
      at_most(timedelta): The longest duration this use accepts.

    Returns:
      timedelta: Whole seconds, in ``1 s .. at_most``.

    Raises:
      DurationError: Naming the rule that ``value`` breaks.
    """
    if isinstance(value, bool):
        raise _refuse("true and false are not durations")
    if isinstance(value, timedelta):
        if value.microseconds:
            raise _refuse(f"{value} has a fraction of a second")
        seconds = value.days * 86400 + value.seconds
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise _refuse(f"{value!r} is not a whole number")
        seconds = int(value)
    elif isinstance(value, str):
        seconds = seconds_of(value)
    else:
        raise _refuse(f"a {type(value).__name__} is not a duration")
    if seconds < 1:
        raise _refuse(f"{seconds} is not more than zero")
    longest = int(at_most.total_seconds())
    if seconds > longest:
        raise DurationError(
            f"{quoted(value)} is too long here: at most {format_duration(at_most)} "
            f"({longest} seconds)"
        )
    if isinstance(value, str) and not _bounded(at_most).match(value):
        raise _refuse(
            f"{quoted(value)} has several parts and one after the first of them is not below "
            "one of the unit before it (hours under 24, minutes and seconds under 60); "
            "write one unit alone (PT36H) or carry over (P1DT12H)"
        )
    return timedelta(seconds=seconds)


@lru_cache(maxsize=32)
def _bounded(at_most: timedelta) -> re.Pattern[str]:
    return re.compile(bounded_pattern(at_most))


def format_duration(value: timedelta) -> str:
    """The ISO 8601 form this module reads back: ``P14D``, ``PT1M30S``, ``P1DT1H``.

    Unlike pydantic's own rendering it never writes years (``P100Y`` for 36500 days), so what
    one service sends, another accepts.

    Parameters:
      value(timedelta): Positive whole seconds.

    Returns:
      str: Days, hours, minutes and seconds (never weeks, years or months).

    Raises:
      DurationError: For fractions of a second, zero or negative values.
    """
    if value.microseconds or value <= timedelta(0):
        raise _refuse("only positive whole seconds can be written")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    date = f"{value.days}D" if value.days else ""
    time = "".join(f"{n}{d}" for n, d in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    return f"P{date}" + (f"T{time}" if time else "")


@dataclass(frozen=True)
class Duration:
    """Marks a ``timedelta`` field as a duration of this grammar, at most ``at_most``.

    Usage: ``Annotated[timedelta, Duration(at_most=timedelta(days=365))]``. Validation goes
    through :func:`parse_duration`; JSON output is :func:`format_duration`; the JSON Schema is
    an integer ``1..at_most`` or a string matching :func:`bounded_pattern` of ``at_most``.
    """

    at_most: timedelta

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                format_duration, when_used="json"
            ),
        )

    def _validate(self, value: object) -> timedelta:
        try:
            return parse_duration(value, at_most=self.at_most)
        except DurationError as error:
            # A custom error keeps pydantic from prefixing "Value error, " to the rule.
            raise PydanticCustomError("duration", str(error)) from None

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        longest = int(self.at_most.total_seconds())
        return {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": longest},
                {"type": "string", "pattern": bounded_pattern(self.at_most)},
            ],
            "description": (
                f"{RULE[0].upper()}{RULE[1:]}; years and months are refused (their length "
                "varies). In several parts, each after the first is below one of the unit "
                "before it (P1DT12H, PT36H30M; not P1DT36H). At least 1 second, at most "
                f"{format_duration(self.at_most)} ({longest} seconds)."
            ),
        }
