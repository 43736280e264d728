"""At the gateway: a duration that is not whole, positive and bounded answers 422 naming the
field; one that is travels the bus and back unchanged; every 401 carries a Bearer challenge
with an RFC 6750 error code."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest
from multidict import CIMultiDict

from tests.integration.client import Api, open_body
from tests.integration.system import System


def _open_body(parties, **fields: Any) -> dict[str, Any]:
    return open_body(parties["customer"], parties["isv"], process="double_check", **fields)


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "words"),
    [
        ("PT0.5S", "fraction"),  # the example: it used to be stored as 0 s
        ("P0.5D", "fraction"),
        (0.5, "whole number"),
        ("P1Y", "years or months"),
        ("P1M", "years or months"),
        ("-P1D", "sign"),
        (-5, "more than zero"),
        ("PT0S", "zero"),
        (0, "more than zero"),
        ("1:00:00", "clock time"),
        (" P1D", "whitespace"),
        (True, "true and false"),
        ("P36501D", "at most P36500D"),
        (36_500 * 86400 + 1, "at most P36500D"),
        ("9" * 400, "at most P36500D"),
    ],
)
async def test_a_bad_warranty_period_answers_422_naming_the_field(
    api: Api, parties, period: Any, words: str
):
    body = _open_body(parties, warranty_period=period)
    status, answer = await api.request("POST", "/v1/deliveries", parties["marketplace"], json=body)
    assert status == 422, answer
    assert [field["field"] for field in answer["fields"]] == ["warranty_period"], answer
    assert words in answer["fields"][0]["message"], answer
    assert "warranty_period" in answer["message"]


@pytest.mark.parametrize(
    ("period", "seconds"),
    [
        ("P400D", 400 * 86400),  # pydantic would have written it P1Y35D on the bus
        ("P36500D", 36_500 * 86400),  # and this P100Y
        ("P2W", 14 * 86400),
        ("PT1H30M", 5400),
        ("86400", 86400),
        (86400, 86400),
    ],
)
async def test_a_good_warranty_period_travels_the_bus_unchanged(
    api: Api, parties, period: Any, seconds: int
):
    opened = await api.open_delivery(
        parties["marketplace"],
        parties["customer"],
        parties["isv"],
        process="double_check",
        warranty_period=period,
    )
    delivery = await api.delivery(opened["delivery_id"], parties["admin"])
    assert delivery["warranty_period_seconds"] == seconds


# --- tokens -----------------------------------------------------------------------------------

#: RFC 6750 §3: ``Bearer`` with a realm, an error code and a quoted description.
CHALLENGE = re.compile(
    r'Bearer realm="delivery-center", error="(?P<error>invalid_request|invalid_token)", '
    r'error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"'
)


def _token(secret: str, **claims: Any) -> str:
    good = {"sub": "c-1", "role": "customer", "exp": int(time.time()) + 600}
    return jwt.encode({**good, **claims}, secret, algorithm="HS256")


def _authorization(system: System, case: str) -> tuple[list[str], str]:
    """The Authorization headers of each bad case, and the error the challenge must name."""
    secret, now = system.jwt_secret, int(time.time())
    bearer = "Bearer " + _token(secret)
    cases: dict[str, tuple[list[str], str]] = {
        "no header": ([], "invalid_request"),
        "wrong scheme": (["Basic dXNlcjpwYXNz"], "invalid_request"),
        "no scheme": ([_token(secret)], "invalid_request"),
        "empty bearer": (["Bearer "], "invalid_request"),
        "two tokens in one header": ([bearer + " " + _token(secret)], "invalid_request"),
        "two headers": ([bearer, bearer], "invalid_request"),
        "garbage token": (["Bearer not.a.jwt"], "invalid_token"),
        "wrongly signed": (
            ["Bearer " + _token("another-secret-of-at-least-32-bytes!")],
            "invalid_token",
        ),
        "expired": (["Bearer " + _token(secret, exp=now - 60)], "invalid_token"),
        "string exp": (["Bearer " + _token(secret, exp="9999999999")], "invalid_token"),
        "boolean exp": (["Bearer " + _token(secret, exp=True)], "invalid_token"),
        "exp a year ahead": (["Bearer " + _token(secret, exp=now + 365 * 86400)], "invalid_token"),
        "iat in the future": (["Bearer " + _token(secret, iat=now + 3600)], "invalid_token"),
        "string nbf": (["Bearer " + _token(secret, nbf=str(now))], "invalid_token"),
        "sub a number": (["Bearer " + _token(secret, sub=42)], "invalid_token"),
        # Integers no float holds: compared exactly, not a 500 (OverflowError) any more.
        "exp 10**400": (["Bearer " + _token(secret, exp=10**400)], "invalid_token"),
        "exp -10**400": (["Bearer " + _token(secret, exp=-(10**400))], "invalid_token"),
        "iat 10**400": (["Bearer " + _token(secret, iat=10**400)], "invalid_token"),
        "nbf 10**309": (["Bearer " + _token(secret, nbf=10**309)], "invalid_token"),
        "exp 30 days and 1 s": (
            ["Bearer " + _token(secret, exp=now + 30 * 86400 + 2)],
            "invalid_token",
        ),
        "role a list": (["Bearer " + _token(secret, role=["admin"])], "invalid_token"),
    }
    return cases[case]


CASES = [
    "no header",
    "wrong scheme",
    "no scheme",
    "empty bearer",
    "two tokens in one header",
    "two headers",
    "garbage token",
    "wrongly signed",
    "expired",
    "string exp",
    "boolean exp",
    "exp a year ahead",
    "iat in the future",
    "string nbf",
    "sub a number",
    "role a list",
    "exp 10**400",
    "exp -10**400",
    "iat 10**400",
    "nbf 10**309",
    "exp 30 days and 1 s",
]
#: Every route that needs a caller.
ROUTES = [
    ("GET", "/v1/deliveries"),
    ("POST", "/v1/deliveries"),
    ("GET", f"/v1/deliveries/{'0' * 32}"),
    ("POST", f"/v1/deliveries/{'0' * 32}/commands"),
    ("POST", f"/v1/deliveries/{'0' * 32}/attachments"),
    ("GET", "/v1/commands/c-1"),
    ("GET", f"/v1/attachments/{'0' * 32}"),
]


@pytest.mark.parametrize("case", CASES)
async def test_every_401_carries_a_bearer_challenge(api: Api, system: System, case: str):
    values, error = _authorization(system, case)
    headers = CIMultiDict(("Authorization", value) for value in values)
    for method, path in ROUTES:
        async with api.session.request(
            method, api.base_url + path, headers=headers, json={}
        ) as response:
            answer = await response.json()
            assert response.status == 401, (case, method, path, answer)
            assert answer["error"] == "unauthenticated", answer
            challenge = response.headers.getall("WWW-Authenticate")
            assert len(challenge) == 1, challenge
            found = CHALLENGE.fullmatch(challenge[0])
            assert found and found["error"] == error, (case, challenge)


async def test_a_good_token_gets_no_challenge(api: Api, parties):
    async with api.session.get(
        api.base_url + "/v1/deliveries", headers=parties["customer"].headers
    ) as response:
        assert response.status == 200
        assert "WWW-Authenticate" not in response.headers


async def test_the_401_says_why_a_string_exp_is_refused(api: Api, system: System):
    headers = {"Authorization": "Bearer " + _token(system.jwt_secret, exp="9999999999")}
    async with api.session.get(api.base_url + "/v1/deliveries", headers=headers) as response:
        answer = await response.json()
    assert response.status == 401
    assert "'exp'" in answer["message"] and "NumericDate" in answer["message"]
    assert "NumericDate" in response.headers["WWW-Authenticate"]
