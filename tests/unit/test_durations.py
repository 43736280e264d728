"""Durations: whole seconds or ISO 8601 in whole units, positive, bounded; one parser, and a
JSON Schema that accepts exactly what it accepts."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.contracts.schemas import build_schemas
from shared.domain.commands import MAX_WARRANTY, OpenDelivery
from shared.durations import (
    DURATION_PATTERN,
    RULE,
    Duration,
    DurationError,
    bounded_pattern,
    format_duration,
    parse_duration,
)

#: Beyond every number of at most 6 digits the grammar tests generate (999999W).
BIG = timedelta(days=10_000_000)
ANY_DURATION: TypeAdapter[timedelta] = TypeAdapter(Annotated[timedelta, Duration(at_most=BIG)])
VALIDATOR = Draft202012Validator(ANY_DURATION.json_schema())
OPEN = {
    "order_id": "o-1",
    "order_spec": "A website",
    "product_id": "p-1",
    "isv_id": "i-1",
    "customer_id": "c-1",
    "customer_email": "c@example.com",
    "isv_email": "i@example.com",
    "process": "double_check",
}


def accepts(value: Any, at_most: timedelta = BIG) -> bool:
    try:
        parse_duration(value, at_most=at_most)
    except DurationError:
        return False
    return True


def refusal(value: Any, at_most: timedelta = MAX_WARRANTY) -> str:
    with pytest.raises(DurationError) as caught:
        parse_duration(value, at_most=at_most)
    return str(caught.value)


# --- the example ----------------------------------------------------------------------


def test_a_half_second_warranty_is_refused_not_stored_as_zero():
    with pytest.raises(ValidationError) as caught:
        OpenDelivery.model_validate({**OPEN, "warranty_period": "PT0.5S"})
    (error,) = caught.value.errors(include_url=False)
    assert error["loc"] == ("warranty_period",)
    assert "fraction" in error["msg"] and "P14D" in error["msg"]
    assert not error["msg"].startswith("Value error")


# --- what is accepted -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30),
        (30.0, 30),  # the same JSON number as 30; JSON Schema counts it an integer
        ("30", 30),
        ("1209600", 1_209_600),
        ("PT30S", 30),
        ("PT1M30S", 90),
        ("PT1H5S", 3605),
        ("PT12H", 43_200),
        ("P14D", 14 * 86400),
        ("P1DT1H", 90_000),
        ("P0DT1S", 1),
        ("P2W", 14 * 86400),
        ("P1DT1H1M1S", 90_061),
        ("P36500D", 36_500 * 86400),
        (timedelta(days=3), 3 * 86400),
    ],
)
def test_accepted_forms(value: Any, seconds: int):
    assert parse_duration(value, at_most=MAX_WARRANTY) == timedelta(seconds=seconds)


# --- what is refused, and the message names the rule ------------------------------------------


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("PT0.5S", "fraction"),
        ("P0.5D", "fraction"),
        ("PT1,5S", "fraction"),
        ("1.5", "fraction"),
        (0.5, "not a whole number"),
        (1e-9, "not a whole number"),
        (float("nan"), "not a whole number"),
        (float("inf"), "not a whole number"),
        (timedelta(seconds=1, microseconds=500_000), "fraction"),
        ("-P1D", "sign"),
        ("+P1D", "sign"),
        ("-30", "sign"),
        ("P-1D", "sign"),
        (-5, "more than zero"),
        (0, "more than zero"),
        ("0", "zero"),
        ("PT0S", "zero"),
        ("P0D", "zero"),
        ("P0W", "zero"),
        (timedelta(0), "more than zero"),
        (timedelta(seconds=-1), "more than zero"),
        ("P1Y", "years or months"),
        ("P1M", "years or months"),
        ("P1Y2M3D", "years or months"),
        ("P1W2D", "weeks"),
        ("1:00:00", "clock time"),
        ("00:30", "clock time"),
        (" 30", "whitespace"),
        ("30 ", "whitespace"),
        ("P1D\n", "whitespace"),
        ("P 1D", "whitespace"),
        ("\u00a0P1D", "whitespace"),
        ("p14d", "upper case"),
        ("PT30s", "upper case"),
        ("P014D", "leading zero"),
        ("030", "leading zero"),
        ("P", "no number and unit after P"),
        ("PT", "no number and unit after P and T"),
        ("P1DT", "T with no hours, minutes or seconds"),
        ("P1H", "H before T"),  # hours belong after T
        ("PT1D", "D after T"),
        ("PT1S1M", "out of order"),
        ("P1D1D", "same unit twice"),
        ("", "is empty"),
        ("forever", "neither whole seconds"),
        ("３０", "not an ASCII digit"),  # full-width digits are digits to str.isdigit
        ("٣٠", "not an ASCII digit"),
        # Issue 15: each names what is wrong, not a leading zero it does not have.
        ("1_000", "'_', which is not a digit"),
        ("1_000_000", "'_', which is not a digit"),
        ("P1_000D", "'_', which is not a digit or a designator"),
        ("1e3", "'e', which is not a digit"),
        ("30s", "'s', which is not a digit"),
        ("0x1F", "'x', which is not a digit"),
        ("1３", "'３', which is not an ASCII digit"),
        ("P1X", "'X', which is not a digit or a designator"),
        ("PP1D", "P more than once"),
        ("P1DT1H1", "number without its unit"),
        ("P14", "number without its unit"),
        ("PD", "D without a number"),
        ("PTH", "H without a number"),
        ("P1DTT1H", "T more than once"),
        ("PT1H1H", "same unit twice"),
        ("PT1M1H", "out of order"),
        ("P2D1W", "weeks"),
        ("P1WT1H", "weeks"),
        ("P2W0D", "weeks"),
        ("p1h", "H before T"),
        ("0", "zero"),
        ("000", "zero"),
        ("P00D", "leading zero"),
        ("PT00S", "leading zero"),
        ("P0DT0H", "zero"),
        (True, "true and false"),
        (False, "true and false"),
        (None, "NoneType"),
        ([30], "list"),
        ({"seconds": 30}, "dict"),
    ],
)
def test_refused_forms_name_the_rule(value: Any, words: str):
    message = refusal(value)
    assert words in message, message
    assert RULE in message


@pytest.mark.parametrize(
    "value",
    [
        36_500 * 86400 + 1,
        "P36501D",
        "P5215W",
        "PT876001H",
        "3153600001",
        10**40,
        "9" * 5000,  # beyond Python's limit on converting long digit strings
        "P" + "9" * 5000 + "D",
        1e300,
        timedelta(days=36_501),
    ],
)
def test_a_warranty_is_at_most_a_century(value: Any):
    message = refusal(value)
    assert "at most P36500D" in message and "3153600000 seconds" in message


# --- one grammar: the schema's pattern and the parser agree -----------------------------------


def _sometimes(strategy: st.SearchStrategy[str], one_in: int) -> st.SearchStrategy[str]:
    """``strategy``'s text one time in ``one_in``, else nothing."""
    return st.integers(1, one_in).flatmap(lambda k: strategy if k == 1 else st.just(""))


_number = st.one_of(
    st.integers(0, 999_999).map(str),
    st.integers(0, 9).map(str),
    st.sampled_from(["00", "01", "007", "1.5", "0.5", "-1", "1,5"]),
)
_iso = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["P"] * 8 + ["p", "", "-P", "PT", " P", "+P"]),
    _sometimes(_number.map(lambda n: n + "Y"), 8),
    _sometimes(_number.map(lambda n: n + "M"), 8),
    _sometimes(_number.map(lambda n: n + "W"), 4),
    _sometimes(_number.map(lambda n: n + "D"), 2),
    st.sampled_from(["T"] * 4 + ["", "t"]),
    _sometimes(_number.map(lambda n: n + "H"), 2),
    _sometimes(_number.map(lambda n: n + "M"), 2),
    _sometimes(_number.map(lambda n: n + "S"), 2),
    _sometimes(st.sampled_from(["\n", " ", "Z", "S", "T", "D", "0"]), 8),
)
#: Near the grammar: its shape, with leading zeros, zeros and an empty T part allowed.
_near = st.from_regex(
    r"P(?:[0-9]{1,6}W|(?:[0-9]{1,6}D)?(?:T(?:[0-9]{1,6}H)?(?:[0-9]{1,6}M)?(?:[0-9]{1,6}S)?)?)",
    fullmatch=True,
)
_anything = st.text(alphabet="0123456789PTWDHMSYpt.,:-+ \n", max_size=12)
_odd = st.text(alphabet="0123456789PTWDHMS_eXx３", min_size=1, max_size=10)


@settings(max_examples=1000)
@given(st.one_of(_iso, _near, _anything, _number))
def test_the_schema_pattern_accepts_exactly_what_the_parser_accepts(text: str):
    assert VALIDATOR.is_valid(text) == accepts(text), text


@settings(max_examples=1000)
@given(st.one_of(_iso, _near, _anything, _number, _odd))
def test_every_refused_text_gets_a_reason_that_fits_it(text: str):
    """Each reason holds of the text it is given for: a leading zero only where a number has
    one, a character named only where it is in the text; the catch-all never for near forms."""
    if accepts(text):
        return
    message = refusal(text)
    reason = message.removesuffix(RULE)
    if "leading zero" in reason:
        assert re.search(r"(?<![0-9])0[0-9]", text), message
    if "fraction" in reason:
        assert "." in text or "," in text, message
    if "is zero" in reason:
        assert not re.search("[1-9]", text), message
    named = re.search(r"has '(.)', which", reason)
    if named:
        assert named.group(1) in text, message
    assert "is not a duration;" not in message, message


@given(
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
    )
)
def test_the_schema_and_the_parser_agree_on_numbers(value: Any):
    assert VALIDATOR.is_valid(value) == accepts(value), value


def test_the_pattern_is_also_exact_for_ecma_262_engines():
    # jsonschema_rs (Rust, ECMA-262 semantics for $) comes with schemathesis.
    import jsonschema_rs

    rust = jsonschema_rs.validator_for(ANY_DURATION.json_schema())
    for text in ("P14D", "30", "P1D\n", "PT0S", "P1W2D", "PT1H5S", "P", "PT0.5S", "p1d"):
        assert rust.is_valid(text) == accepts(text), text


def test_the_schema_states_the_bound_in_its_pattern():
    # The pattern lists the numbers up to the bound (durations.bounded_pattern), so a string
    # over it matches no more than the parser accepts it; the description says it in words.
    schema = TypeAdapter(Annotated[timedelta, Duration(at_most=MAX_WARRANTY)]).json_schema()
    assert not re.search(schema["anyOf"][1]["pattern"], "P36501D")
    assert re.search(schema["anyOf"][1]["pattern"], "P36500D")
    assert "at most P36500D" in schema["description"]
    assert schema["anyOf"][0]["maximum"] == 36_500 * 86400
    assert not accepts("P36501D", MAX_WARRANTY)


def test_the_bus_schema_carries_the_same_pattern():
    warranty = build_schemas()["open_delivery"]["$defs"]["OpenDelivery"]["properties"][
        "warranty_period"
    ]
    (duration,) = [branch for branch in warranty["anyOf"] if "anyOf" in branch]
    assert duration["anyOf"][1]["pattern"] == bounded_pattern(MAX_WARRANTY)
    assert "format" not in duration["anyOf"][1]


# --- rendering back ---------------------------------------------------------------------------


@given(st.integers(1, 36_500 * 86400))
def test_every_duration_renders_to_a_form_read_back_the_same(seconds: int):
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert re.search(DURATION_PATTERN, text)
    assert re.search(bounded_pattern(MAX_WARRANTY), text)
    assert parse_duration(text, at_most=MAX_WARRANTY) == value


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "PT1S"), (90, "PT1M30S"), (90_000, "P1DT1H"), (36_500 * 86400, "P36500D")],
)
def test_rendering_never_writes_years(seconds: int, text: str):
    # pydantic's own rendering writes 36500 days as P100Y, which the parser refuses.
    assert format_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize("period", ["P36500D", 400 * 86400, "P2W", "PT0H1M", "90"])
def test_a_warranty_survives_the_bus(period: Any):
    document = {
        "command_id": "c-1",
        "delivery_id": "0" * 32,
        "actor": {"id": "shop", "role": "marketplace"},
        "issued_at": "2026-01-05T09:00:00Z",
        "command": {"type": "open_delivery", **OPEN, "warranty_period": period},
    }
    sent = CommandEnvelope.model_validate(document).model_dump(mode="json")
    assert Draft202012Validator(build_schemas()["open_delivery"]).is_valid(sent)
    received = CommandEnvelope.model_validate(sent)
    assert received.command.warranty_period == parse_duration(period, at_most=MAX_WARRANTY)


# --- settings from the environment ------------------------------------------------------------

VARIABLES = ("DC_CONFIRM_WINDOW", "DC_REMINDER_LEAD", "DC_LINK_TTL", "DC_TIMER_POLL_INTERVAL")


def test_settings_read_durations_from_the_environment(monkeypatch):
    monkeypatch.setenv("DC_CONFIRM_WINDOW", "8")
    monkeypatch.setenv("DC_REMINDER_LEAD", "PT4S")
    monkeypatch.setenv("DC_LINK_TTL", "P2W")
    monkeypatch.setenv("DC_TIMER_POLL_INTERVAL", "PT1M")
    settings = Settings()
    assert settings.confirm_window == timedelta(seconds=8)
    assert settings.reminder_lead == timedelta(seconds=4)
    assert settings.link_ttl == timedelta(days=14)
    assert settings.timer_poll_interval == timedelta(minutes=1)


def test_the_defaults_are_valid_durations(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.confirm_window == timedelta(days=14)
    assert settings.timer_poll_interval == timedelta(seconds=1)


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("text", ["PT0.2S", "0", "-5", "P1Y", " 30", "1:00:00", "true", ""])
def test_a_bad_duration_setting_is_refused_naming_the_variable(monkeypatch, variable, text):
    monkeypatch.setenv(variable, text)
    with pytest.raises(ValidationError) as caught:
        Settings()
    (error,) = caught.value.errors(include_url=False)
    assert error["loc"] == (variable.removeprefix("DC_").lower(),)
    assert RULE in error["msg"]


@pytest.mark.parametrize(
    ("variable", "longest", "over"),
    [
        ("DC_CONFIRM_WINDOW", "P365D", "P366D"),
        ("DC_REMINDER_LEAD", "P365D", "P53W"),
        ("DC_LINK_TTL", "P365D", "31536001"),
        ("DC_TIMER_POLL_INTERVAL", "PT1H", "PT1H1S"),
    ],
)
def test_each_duration_setting_has_a_bound(monkeypatch, variable, longest, over):
    field = variable.removeprefix("DC_").lower()
    monkeypatch.setenv(variable, longest)
    assert getattr(Settings(), field) == parse_duration(longest, at_most=BIG)
    monkeypatch.setenv(variable, over)
    with pytest.raises(ValidationError, match=f"at most {longest}"):
        Settings()


@pytest.mark.parametrize("text", ["P2W0D", "P1WT1H", "P2D1W", "P3W4D"])
def test_weeks_mixed_with_other_units_are_refused_with_examples_not_a_false_equivalent(
    text: str,
):
    """The message gives forms to follow, never a sum that is not the value's own."""
    with pytest.raises(DurationError) as refused:
        parse_duration(text, at_most=BIG)
    message = str(refused.value)
    assert "like P2W" in message and "like P16D" in message
