"""The language and time zone each party reads in, over HTTP: ``POST /v1/deliveries`` takes
``customer_locale``, ``isv_locale``, ``customer_time_zone`` and ``isv_time_zone``, the
delivery shows them, a bad value answers 422 naming the field and saying what to send, and an
order is the same order only with the same ones."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.locales import LOCALE_TAGS, TIME_ZONES
from tests.integration.client import Api, open_body

READERS = {
    "customer_locale": "zh-CN",
    "isv_locale": "en-GB",
    "customer_time_zone": "Asia/Shanghai",
    "isv_time_zone": "Europe/Berlin",
}


def _fields(answer: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["message"] for f in answer.get("fields", [])}


async def test_a_delivery_shows_the_languages_and_time_zones_it_was_opened_with(api: Api, parties):
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], **READERS
    )
    for reader in ("admin", "customer", "isv"):
        delivery = await api.delivery(opened["delivery_id"], parties[reader])
        assert {name: delivery[name] for name in READERS} == READERS, reader


async def test_left_out_they_are_null_the_installations_default(api: Api, parties, db):
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], isv_time_zone="UTC"
    )
    delivery = await api.delivery(opened["delivery_id"], parties["admin"])
    assert delivery["isv_time_zone"] == "UTC"
    assert [delivery[name] for name in ("customer_locale", "isv_locale", "customer_time_zone")] == [
        None,
        None,
        None,
    ]
    # The default is applied when read, never stored.
    stored = db.deliveries.find_one({"_id": opened["delivery_id"]})
    assert stored["customer_locale"] is None and stored["isv_time_zone"] == "UTC"


async def test_a_delivery_stored_before_the_fields_existed_still_shows(api: Api, parties, db):
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    db.deliveries.update_one({"_id": opened["delivery_id"]}, {"$unset": dict.fromkeys(READERS, "")})
    delivery = await api.delivery(opened["delivery_id"], parties["admin"])
    assert delivery["order_id"] == opened["order_id"]
    assert not set(READERS) & set(delivery)
    # Its workflow still reads it: the next command is applied.
    await api.applied(
        opened["delivery_id"],
        parties["customer"],
        {
            "type": "submit_demand",
            "contact": {"name": "Ann", "phone": "+1 555 0100", "email": "ann@example.com"},
            "demands": "A shop",
        },
    )


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("customer_locale", "zh-cn", "write the locale 'zh-cn' as 'zh-CN'"),
        ("isv_locale", "fr", "there is no translation for the locale 'fr'"),
        ("customer_locale", "zh-TW", "there is no translation for the locale 'zh-TW'"),
        ("isv_locale", "en_US", "write the locale 'en_US' as 'en-US'"),
        ("isv_locale", "en_XX", "'en_XX' is not a BCP 47 locale tag"),
        ("customer_time_zone", "Z" * 5000, repr("Z" * 60) + "… is not an IANA time zone name"),
        ("customer_locale", "", "'' is not a BCP 47 locale tag"),
        ("customer_time_zone", "asia/shanghai", "write the time zone 'asia/shanghai' as"),
        ("isv_time_zone", "Mars/Olympus", "'Mars/Olympus' is not an IANA time zone name"),
        ("customer_time_zone", "localtime", "'localtime' is not an IANA time zone name"),
        ("isv_time_zone", 8, "Input should be a valid string"),
    ],
)
async def test_a_bad_value_answers_422_naming_the_field_and_the_fix(
    api: Api, parties, db, field: str, value: Any, words: str
):
    body = open_body(parties["customer"], parties["isv"], **{field: value})
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and answer["error"] == "invalid_input", answer
    fields = _fields(answer)
    assert list(fields) == [field], answer
    assert fields[field].startswith(words), answer
    assert answer["message"] == f"{field}: {fields[field]}"
    assert db.commands.find_one({"order.order_id": body["order_id"]}) is None


async def test_every_bad_field_is_named_at_once(api: Api, parties):
    body = open_body(
        parties["customer"],
        parties["isv"],
        customer_locale="zh-cn",
        isv_locale="fr",
        customer_time_zone="asia/shanghai",
        isv_time_zone="Mars/Olympus",
    )
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422 and set(_fields(answer)) == set(READERS), answer


async def test_an_order_repeated_with_other_readers_answers_409(api: Api, parties):
    opened = await api.open_delivery(
        parties["marketplace"], parties["customer"], parties["isv"], **READERS
    )
    body = {k: v for k, v in opened.items() if k not in ("delivery_id", "command_id", "status")}
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 202 and answer["delivery_id"] == opened["delivery_id"], answer
    for changed in ({"customer_locale": "en"}, {"isv_time_zone": None}):
        status, answer = await api.request(
            "POST", "/v1/deliveries", parties["marketplace"], json={**body, **changed}
        )
        assert status == 409 and answer["error"] == "order_already_open", answer
        assert set(_fields(answer)) == set(changed), answer


async def test_an_order_left_without_them_is_the_same_order_with_nulls(api: Api, parties):
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    body = {k: v for k, v in opened.items() if k not in ("delivery_id", "command_id", "status")}
    nulls = {**body, **dict.fromkeys(READERS)}
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=nulls)
    assert status == 202 and answer["delivery_id"] == opened["delivery_id"], answer


async def test_the_openapi_document_publishes_the_enums(api: Api):
    status, document = await api.request("GET", "/openapi.json")
    assert status == 200
    text_of = {"locale": list(LOCALE_TAGS), "time_zone": list(TIME_ZONES)}
    schemas = document["components"]["schemas"]
    opening = schemas["OpenDelivery"]["properties"]
    shown = schemas["DeliveryView"]["properties"]
    for name in READERS:
        kind = "locale" if name.endswith("locale") else "time_zone"
        for properties in (opening, shown):
            enums = [choice.get("enum") for choice in properties[name]["anyOf"]]
            assert text_of[kind] in enums, name
