"""The languages and time zones a party may read in (shared.domain.locales): which tags and
names are accepted, the refusals' words, the enums the JSON Schemas publish; and how the four
reader fields travel from the opening to the delivery, its events and the settings."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.gateway.opening import ORDER_FIELDS, order_of
from services.gateway.requests import fingerprint
from shared.config import ConfigurationError, Settings, read_settings
from shared.domain.commands import OpenDelivery, SubmitDemand
from shared.domain.delivery import READER_FIELDS, Delivery
from shared.domain.engine import Applied, decide, open_delivery
from shared.domain.events import DeliverySummary
from shared.domain.locales import (
    DEFAULT_LOCALE,
    DEFAULT_TIME_ZONE,
    LANGUAGE_NAMES,
    LOCALE_TAGS,
    TIME_ZONES,
    LocaleTag,
    TimeZoneName,
    catalog_of,
    locale_tag,
    time_zone,
    zone_info,
)
from shared.domain.states import ProcessName
from shared.validation_errors import error_message

from .support import CONTACT, CUSTOMER, MARKETPLACE, POLICY, T0

LOCALE = TypeAdapter(LocaleTag)
ZONE = TypeAdapter(TimeZoneName)
NO_CATALOG = "there is no translation for the locale"
NOT_A_TAG = "is not a BCP 47 locale tag that CLDR knows"
NOT_A_ZONE = "is not an IANA time zone name"

SETTINGS = ("DC_DEFAULT_LOCALE", "DC_DEFAULT_TIME_ZONE", "DC_ADMIN_LOCALE", "DC_ADMIN_TIME_ZONE")
READERS = {
    "customer_locale": "zh-CN",
    "isv_locale": "en-GB",
    "customer_time_zone": "Asia/Shanghai",
    "isv_time_zone": "Europe/Berlin",
}


def _refusal(adapter: TypeAdapter[Any], value: str) -> str:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    (error,) = caught.value.errors()
    assert error["type"] == "value_error"
    return error_message(error)


# --- locales --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("en-001", "en"),
        ("zh", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-Hans-SG", "zh_Hans"),
    ],
)
def test_tags_of_our_languages_are_accepted_as_written(tag: str, catalog: str) -> None:
    assert locale_tag(tag) == tag
    assert LOCALE.validate_python(tag) == tag
    assert catalog_of(tag) == catalog


@pytest.mark.parametrize(
    ("written", "spelled"),
    [
        ("zh-cn", "zh-CN"),
        ("EN-gb", "en-GB"),
        ("zh-hans-sg", "zh-Hans-SG"),
        # POSIX and Babel write "_" where BCP 47 writes "-".
        ("zh_CN", "zh-CN"),
        ("en_US", "en-US"),
        ("zh_hans", "zh-Hans"),
    ],
)
def test_a_tag_spelled_otherwise_is_refused_with_its_spelling(written: str, spelled: str) -> None:
    assert _refusal(LOCALE, written) == f"write the locale {written!r} as {spelled!r}"


@pytest.mark.parametrize("adapter", [LOCALE, ZONE], ids=["locale", "zone"])
def test_a_long_value_is_quoted_cut_short(adapter: TypeAdapter[Any]) -> None:
    refusal = _refusal(adapter, "x" * 10_000)
    assert refusal.startswith(repr("x" * 60) + "… is not")
    assert len(refusal) < 200


@pytest.mark.parametrize("tag", ["fr", "zh-TW", "zh-Hant", "de-DE"])
def test_a_language_without_a_catalog_is_refused(tag: str) -> None:
    message = _refusal(LOCALE, tag)
    assert f"{NO_CATALOG} {tag!r}" in message
    assert message.endswith(f"the languages are {LANGUAGE_NAMES}")
    assert "English (en)" in LANGUAGE_NAMES and "(zh-Hans)" in LANGUAGE_NAMES


@pytest.mark.parametrize("tag", ["xx", "", "en-", "-en", "english", "zh-CN ", "zh__CN"])
def test_what_is_no_tag_is_refused_as_such(tag: str) -> None:
    assert f"{tag!r} {NOT_A_TAG}" in _refusal(LOCALE, tag)


def test_defaults_are_accepted() -> None:
    assert locale_tag(DEFAULT_LOCALE) == DEFAULT_LOCALE
    assert time_zone(DEFAULT_TIME_ZONE) == DEFAULT_TIME_ZONE


def test_every_locale_of_the_enum_validates_and_has_a_catalog() -> None:
    assert tuple(sorted(set(LOCALE_TAGS))) == LOCALE_TAGS
    for tag in LOCALE_TAGS:
        assert LOCALE.validate_python(tag) == tag
        assert catalog_of(tag) in ("en", "zh_Hans")


def test_the_locale_schema_is_the_enum() -> None:
    schema = LOCALE.json_schema()
    assert schema["type"] == "string"
    assert schema["enum"] == list(LOCALE_TAGS)
    assert {"en", "en-GB", "zh", "zh-CN", "zh-Hans-SG"} <= set(schema["enum"])
    assert not {"zh-TW", "fr", "zh-cn"} & set(schema["enum"])


# --- time zones -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_iana_names_are_accepted(name: str) -> None:
    assert ZONE.validate_python(name) == name
    assert zone_info(name).key == name


def test_a_zone_in_another_case_is_refused_with_its_spelling() -> None:
    assert _refusal(ZONE, "asia/shanghai") == (
        "write the time zone 'asia/shanghai' as 'Asia/Shanghai'"
    )
    assert _refusal(ZONE, "utc") == "write the time zone 'utc' as 'UTC'"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "localtime", "Asia/Shanghai ", "+08:00"])
def test_what_is_no_zone_is_refused(name: str) -> None:
    assert f"{name!r} {NOT_A_ZONE}" in _refusal(ZONE, name)


def test_every_zone_of_the_enum_validates_and_loads() -> None:
    assert tuple(sorted(set(TIME_ZONES))) == TIME_ZONES
    for name in TIME_ZONES:
        assert ZONE.validate_python(name) == name
        assert zone_info(name).key == name


def test_the_time_zone_schema_is_the_enum() -> None:
    schema = ZONE.json_schema()
    assert schema["type"] == "string"
    assert schema["enum"] == list(TIME_ZONES)


# --- validation accepts exactly the enum ----------------------------------------------------


def _texts(members: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Arbitrary text, and the members, their case changed, cut short or added to."""
    member = st.sampled_from(members)
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCHNSTZ-_/019", max_size=20),
        member,
        member.map(str.swapcase),
        member.map(str.lower),
        member.map(str.upper),
        st.tuples(member, st.integers(0, 12)).map(lambda pair: pair[0][: pair[1]]),
        st.tuples(member, st.sampled_from(["-", "_", " ", "x", "-CN", "/A"])).map("".join),
    )


@pytest.mark.parametrize(
    ("adapter", "enum"), [(LOCALE, LOCALE_TAGS), (ZONE, TIME_ZONES)], ids=["locale", "zone"]
)
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_a_value_is_accepted_exactly_when_the_enum_has_it(
    adapter: TypeAdapter[Any], enum: tuple[str, ...], data: st.DataObject
) -> None:
    text = data.draw(_texts(enum))
    try:
        accepted = adapter.validate_python(text)
    except ValidationError as error:
        assert text not in enum
        assert error.errors()[0]["type"] == "value_error"
    else:
        assert accepted == text and text in enum


# --- the opening, the delivery and its events -----------------------------------------------


def _opening(**fields: Any) -> dict[str, Any]:
    return {
        "order_id": "order-locales",
        "order_spec": "A website",
        "product_id": "prod-1",
        "isv_id": "isv-1",
        "customer_id": CUSTOMER.id,
        "customer_email": "ada@example.com",
        "isv_email": "sales@isv.example",
        "process": "basic",
        **fields,
    }


def test_the_opening_takes_the_four_fields_and_leaves_them_optional() -> None:
    command = OpenDelivery.model_validate(_opening(**READERS))
    assert {name: getattr(command, name) for name in READER_FIELDS} == READERS
    bare = OpenDelivery.model_validate(_opening())
    assert all(getattr(bare, name) is None for name in READER_FIELDS)
    nulls = OpenDelivery.model_validate(_opening(**dict.fromkeys(READER_FIELDS)))
    assert nulls == bare


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("customer_locale", "zh-cn", "write the locale 'zh-cn' as 'zh-CN'"),
        ("isv_locale", "fr", f"{NO_CATALOG} 'fr'"),
        ("customer_time_zone", "asia/shanghai", "write the time zone 'asia/shanghai' as"),
        ("isv_time_zone", "Mars/Olympus", f"'Mars/Olympus' {NOT_A_ZONE}"),
    ],
)
def test_a_bad_reader_field_is_refused_by_name(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OpenDelivery.model_validate(_opening(**{field: value}))
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]


def _open(**fields: Any) -> Applied:
    command = OpenDelivery.model_validate(_opening(**fields))
    decision = open_delivery(command, MARKETPLACE, command_id="open-locales", now=T0)
    assert isinstance(decision, Applied), decision
    return decision


def test_the_engine_copies_them_into_the_delivery_and_every_event() -> None:
    applied = _open(**READERS)
    delivery = applied.delivery
    assert {name: getattr(delivery, name) for name in READER_FIELDS} == READERS
    (event,) = applied.events
    assert {name: getattr(event.delivery, name) for name in READER_FIELDS} == READERS
    # A later command's event carries them too, from the delivery.
    later = decide(
        delivery,
        SubmitDemand(contact=CONTACT, demands="A shop"),
        CUSTOMER,
        command_id="demand-1",
        now=T0 + timedelta(hours=1),
        policy=POLICY,
    )
    assert isinstance(later, Applied), later
    (event,) = later.events
    assert {name: getattr(event.delivery, name) for name in READER_FIELDS} == READERS


def test_left_out_they_stay_none_the_default_applied_when_read() -> None:
    applied = _open()
    assert all(getattr(applied.delivery, name) is None for name in READER_FIELDS)
    assert all(getattr(applied.events[0].delivery, name) is None for name in READER_FIELDS)


def test_documents_stored_before_the_fields_existed_still_load() -> None:
    stored = _open().delivery.model_dump()
    for name in READER_FIELDS:
        del stored[name]
    old = Delivery.model_validate(stored)
    assert all(getattr(old, name) is None for name in READER_FIELDS)
    summary = _open().events[0].delivery.model_dump(mode="json")
    for name in READER_FIELDS:
        del summary[name]
    assert all(
        getattr(DeliverySummary.model_validate(summary), name) is None for name in READER_FIELDS
    )


def test_a_stored_delivery_and_an_event_round_trip_through_json() -> None:
    applied = _open(**READERS)
    stored = json.loads(applied.delivery.model_dump_json())
    assert Delivery.model_validate(stored) == applied.delivery
    event = applied.events[0]
    assert type(event).model_validate_json(event.model_dump_json()) == event


def test_the_order_holds_the_fields_given_and_only_those() -> None:
    assert set(READER_FIELDS) <= set(ORDER_FIELDS)
    given_all = OpenDelivery.model_validate(_opening(**READERS))
    order = order_of(given_all, MARKETPLACE, T0)
    assert {name: order[name] for name in READER_FIELDS} == READERS
    # Left out, they are left out of the order: an open accepted before the fields existed
    # kept its order (and its fingerprint) without them, and its retry is the same order.
    bare = order_of(OpenDelivery.model_validate(_opening()), MARKETPLACE, T0)
    assert not set(READER_FIELDS) & set(bare)
    before = {name: bare[name] for name in ORDER_FIELDS if name not in READER_FIELDS}
    assert fingerprint(bare) == fingerprint(before)
    one = order_of(OpenDelivery.model_validate(_opening(customer_locale="zh-CN")), MARKETPLACE, T0)
    assert one["customer_locale"] == "zh-CN" and "isv_locale" not in one


def test_the_published_schemas_have_the_enums() -> None:
    schema = OpenDelivery.model_json_schema()
    for name in ("customer_locale", "isv_locale"):
        (tag, null) = schema["properties"][name]["anyOf"]
        assert tag["enum"] == list(LOCALE_TAGS) and null == {"type": "null"}
    for name in ("customer_time_zone", "isv_time_zone"):
        (zone, null) = schema["properties"][name]["anyOf"]
        assert zone["enum"] == list(TIME_ZONES) and null == {"type": "null"}
    assert not set(READER_FIELDS) & set(schema["required"])
    summary = DeliverySummary.model_json_schema()
    assert set(READER_FIELDS) <= set(summary["properties"])
    assert not set(READER_FIELDS) & set(summary["required"])


def test_the_process_of_the_opening_does_not_matter() -> None:
    applied = _open(process=ProcessName.CONTRACT, **READERS)
    assert applied.delivery.customer_time_zone == "Asia/Shanghai"


# --- settings -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_reader_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SETTINGS:
        monkeypatch.delenv(variable, raising=False)


def test_settings_default_to_english_in_utc() -> None:
    settings_ = Settings()
    assert (settings_.default_locale, settings_.default_time_zone) == ("en", "UTC")
    assert (settings_.admin_locale, settings_.admin_time_zone) == (None, None)
    assert settings_.admin_reader_locale == "en"
    assert settings_.admin_reader_time_zone == "UTC"
    assert settings_.reader_locale(None) == "en"
    assert settings_.reader_locale("zh-CN") == "zh-CN"
    assert settings_.reader_time_zone(None) == "UTC"
    assert settings_.reader_time_zone("Asia/Shanghai") == "Asia/Shanghai"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_DEFAULT_LOCALE", "zh-CN")
    monkeypatch.setenv("DC_DEFAULT_TIME_ZONE", "Asia/Shanghai")
    settings_ = Settings()
    assert settings_.admin_reader_locale == "zh-CN"
    assert settings_.admin_reader_time_zone == "Asia/Shanghai"
    assert settings_.reader_locale(None) == "zh-CN"
    monkeypatch.setenv("DC_ADMIN_LOCALE", "en-GB")
    monkeypatch.setenv("DC_ADMIN_TIME_ZONE", "Europe/Berlin")
    settings_ = Settings()
    assert settings_.admin_reader_locale == "en-GB"
    assert settings_.admin_reader_time_zone == "Europe/Berlin"
    assert settings_.reader_time_zone(None) == "Asia/Shanghai"
    # Set but empty (an env file's ``DC_ADMIN_LOCALE=``) is unset: the defaults apply.
    monkeypatch.setenv("DC_ADMIN_LOCALE", "")
    monkeypatch.setenv("DC_ADMIN_TIME_ZONE", " ")
    settings_ = Settings()
    assert (settings_.admin_reader_locale, settings_.admin_reader_time_zone) == (
        "zh-CN",
        "Asia/Shanghai",
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DC_DEFAULT_LOCALE", "zh-cn", "write the locale 'zh-cn' as 'zh-CN'"),
        (
            "DC_ADMIN_LOCALE",
            "zh-TW",
            f"{NO_CATALOG} 'zh-TW'; the languages are {LANGUAGE_NAMES}",
        ),
        (
            "DC_DEFAULT_TIME_ZONE",
            "asia/shanghai",
            "write the time zone 'asia/shanghai' as 'Asia/Shanghai'",
        ),
        (
            "DC_ADMIN_TIME_ZONE",
            "localtime",
            f"'localtime' {NOT_A_ZONE} (for example UTC, Asia/Shanghai, Europe/Berlin)",
        ),
    ],
)
def test_a_bad_setting_stops_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        read_settings()
    assert str(caught.value).splitlines()[1:] == [f"  {variable}: {message}"]
