"""Authentication: a request without a good token answers 401 with a JSON error, whatever is
wrong with the token."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.integration.client import Api
from tests.integration.system import System


def _token(secret: str, **claims: object) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def _bad_authorization(system: System, case: str) -> str | None:
    """The Authorization header for each way a token can be bad (None: no header at all)."""
    secret, later = system.jwt_secret, int(time.time()) + 600
    good = {"sub": "c-1", "role": "customer", "exp": later}
    without = {name: {k: v for k, v in good.items() if k != name} for name in good}
    return {
        "missing": None,
        "empty bearer": "Bearer ",
        "other scheme": "Basic dXNlcjpwYXNz",
        "not a jwt": "Bearer not.a.jwt",
        "garbage": "Bearer " + "x" * 40,
        "expired": "Bearer " + _token(secret, **{**good, "exp": int(time.time()) - 60}),
        "wrongly signed": "Bearer " + _token("another-secret-of-at-least-32-bytes!", **good),
        "unsigned (alg none)": "Bearer " + jwt.encode(good, None, algorithm="none"),
        "unknown role": "Bearer " + _token(secret, **{**good, "role": "superuser"}),
        "system role": "Bearer " + _token(secret, **{**good, "role": "system"}),
        "no exp": "Bearer " + _token(secret, **without["exp"]),
        "no sub": "Bearer " + _token(secret, **without["sub"]),
        "no role": "Bearer " + _token(secret, **without["role"]),
        "empty sub": "Bearer " + _token(secret, **{**good, "sub": ""}),
        "sub too long": "Bearer " + _token(secret, **{**good, "sub": "s" * 500}),
        "role not a string": "Bearer " + _token(secret, **{**good, "role": ["admin"]}),
    }[case]


CASES = [
    "missing",
    "empty bearer",
    "other scheme",
    "not a jwt",
    "garbage",
    "expired",
    "wrongly signed",
    "unsigned (alg none)",
    "unknown role",
    "system role",
    "no exp",
    "no sub",
    "no role",
    "empty sub",
    "sub too long",
    "role not a string",
]


@pytest.mark.parametrize("case", CASES)
async def test_a_bad_token_answers_401_with_a_json_error(api: Api, system: System, case: str):
    header = _bad_authorization(system, case)
    headers = {} if header is None else {"Authorization": header}
    for method, path in (("GET", "/v1/deliveries"), ("POST", "/v1/deliveries")):
        status, answer = await api.request(method, path, headers=headers, json={})
        assert status == 401, (case, method, answer)
        assert answer["error"] == "unauthenticated"
        assert answer["message"]


async def test_the_reason_of_a_401_is_named(api: Api, system: System):
    for case, words in (
        ("expired", "expired"),
        ("unknown role", "role"),
        ("no exp", "exp"),
        ("wrongly signed", "signature"),
    ):
        header = _bad_authorization(system, case)
        _, answer = await api.request("GET", "/v1/deliveries", headers={"Authorization": header})
        assert words in answer["message"].lower(), (case, answer)


async def test_a_good_token_is_let_in(api: Api, parties):
    status, answer = await api.request("GET", "/v1/deliveries", parties["customer"])
    assert status == 200, answer
