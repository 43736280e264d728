"""Token claims are strictly typed: times are JSON numbers within a sane lifetime, ``sub`` and
``role`` strings; the Authorization header is one ``Bearer <b64token>``; every refusal carries
an RFC 6750 challenge."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from services.gateway.auth import (
    LEEWAY,
    MAX_TOKEN_LIFETIME,
    InvalidRequest,
    InvalidToken,
    actor_from_token,
    bearer_token,
    mint_token,
)
from services.gateway.context import challenge
from shared.domain.roles import Role
from tooling.cli import app

#: 64 bytes at least, so that signing it with HS512 too raises no warning.
SECRET = "unit-test-secret-" + "s" * 48
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
T = int(NOW.timestamp())
GOOD = {"sub": "c-1", "role": "customer", "exp": T + 600}


def token(**claims: Any) -> str:
    return jwt.encode({**GOOD, **claims}, SECRET, algorithm="HS256")


def raw_token(payload: str, secret: str = SECRET) -> str:
    """A token whose payload is exactly ``payload`` (JSON PyJWT itself would not write)."""

    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signed = part(b'{"alg":"HS256","typ":"JWT"}') + b"." + part(payload.encode())
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return (signed + b"." + part(signature)).decode()


def refusal(value: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        actor_from_token(SECRET, value, now=NOW)
    return str(caught.value)


# --- the example ----------------------------------------------------------------------


def test_a_string_exp_is_refused_even_when_signed_with_the_right_secret():
    message = refusal(token(exp="9999999999"))
    assert "'exp'" in message and "NumericDate" in message and "str" in message


# --- the time claims --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("9999999999", "str"),
        (str(T), "str"),
        ("", "str"),
        (True, "true or false"),
        (False, "true or false"),
        (None, "NoneType"),
        ([T + 600], "list"),
        ({"$date": T}, "dict"),
    ],
)
def test_time_claims_must_be_json_numbers(name: str, value: Any, kind: str):
    message = refusal(token(**{name: value}))
    if name == "exp" and value is None:
        # PyJWT counts a null claim as a missing one.
        assert 'missing the "exp" claim' in message
    else:
        assert f"'{name}'" in message and kind in message, message


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_time_claims_must_be_finite(name: str, number: str):
    times = {"exp": str(T + 600), name: number}
    payload = '{"sub": "c-1", "role": "customer", '
    payload += ", ".join(f'"{key}": {value}' for key, value in times.items()) + "}"
    message = refusal(raw_token(payload))
    assert f"'{name}'" in message and "finite" in message, message


def test_numbers_may_have_fractions():
    # NumericDate "can represent non-integer values" (RFC 7519 §2).
    actor = actor_from_token(SECRET, token(exp=T + 600.5, iat=T - 0.25, nbf=T - 1.5), now=NOW)
    assert actor.id == "c-1" and actor.role == Role.CUSTOMER


def test_an_expired_token_is_refused():
    assert "expired" in refusal(token(exp=T))
    assert "expired" in refusal(token(exp=T - 1))
    assert "expired" in refusal(token(exp=0))
    assert "expired" in refusal(token(exp=-(10**30)))
    assert actor_from_token(SECRET, token(exp=T + 1), now=NOW).id == "c-1"


@pytest.mark.parametrize(
    "exp",
    [
        T + int(MAX_TOKEN_LIFETIME.total_seconds()) + 1,
        T + int(MAX_TOKEN_LIFETIME.total_seconds()) + 0.001,
        T + int((MAX_TOKEN_LIFETIME + LEEWAY).total_seconds()),
        T + 400 * 86400,
        9_999_999_999,
        10**30,
        1e300,
    ],
)
def test_exp_far_ahead_is_refused(exp: float):
    message = refusal(token(exp=exp))
    assert "too long" in message and "P30D" in message


def test_the_longest_lifetime_is_accepted_to_the_second_without_the_leeway():
    # "exp at most 30 days ahead" (README, Tokens): 30 days exactly, not 30 days and 60 s.
    exp = T + int(MAX_TOKEN_LIFETIME.total_seconds())
    assert actor_from_token(SECRET, token(exp=exp), now=NOW).id == "c-1"
    assert "too long" in refusal(token(exp=exp + 1))


@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "number",
    [
        "1" + "0" * 400,  # 10**400: no float holds it
        "-1" + "0" * 400,
        "1" + "0" * 309,  # just past the largest float
        "-1" + "0" * 309,
        "179769313486231570" + "0" * 292,  # the largest float, written as an integer
        "1e308",
        "-1e308",
        "1E+2",
        "-0",
        "-0.0",
        "0e0",
        "1.5e-300",
    ],
)
def test_any_json_number_in_a_time_claim_is_judged_not_a_crash(name: str, number: str):
    # Each is a JSON number: it is compared with the clock exactly, never converted to a
    # float (which raised OverflowError for 10**400 and answered 500).
    times = {"exp": str(T + 600), name: number}
    payload = '{"sub": "c-1", "role": "customer", '
    payload += ", ".join(f'"{key}": {value}' for key, value in times.items()) + "}"
    try:
        actor = actor_from_token(SECRET, raw_token(payload), now=NOW)
    except InvalidToken as refused:
        expected = {"exp": ("expired", "too long"), "iat": ("future",), "nbf": ("future",)}
        assert any(word in str(refused) for word in expected[name]), str(refused)
        assert not number.startswith("-") or name == "exp"
    else:
        assert actor.id == "c-1"
        # Only a time in the past is accepted here: iat/nbf, never an exp.
        assert name != "exp" and (number.startswith("-") or float(number) < T)


@given(
    st.integers() | st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["exp", "iat", "nbf"]),
)
def test_every_number_is_accepted_or_refused_as_a_time_never_a_crash(value: float, name: str):
    try:
        actor = actor_from_token(SECRET, token(**{name: value}), now=NOW)
    except InvalidToken as refused:
        assert any(w in str(refused) for w in ("expired", "too long", "future")), str(refused)
    else:
        assert actor.id == "c-1"


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_iat_and_nbf_may_be_in_the_future_only_by_the_leeway(name: str):
    ahead = T + int(LEEWAY.total_seconds())
    assert actor_from_token(SECRET, token(**{name: ahead}), now=NOW).id == "c-1"
    message = refusal(token(**{name: ahead + 1}))
    assert f"'{name}'" in message and "future" in message
    assert "future" in refusal(token(**{name: T + 86400}))
    assert actor_from_token(SECRET, token(**{name: T - 86400}), now=NOW).id == "c-1"


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=5,
    ),
    st.sampled_from(["exp", "iat", "nbf"]),
)
def test_no_json_value_but_a_number_is_a_time(value: Any, name: str):
    with pytest.raises(InvalidToken):
        actor_from_token(SECRET, token(**{name: value}), now=NOW)


@given(
    st.integers(1, int(MAX_TOKEN_LIFETIME.total_seconds())) | st.floats(0.001, 2_592_000),
)
def test_every_number_within_the_lifetime_is_accepted(ahead: float):
    assert actor_from_token(SECRET, token(exp=T + ahead), now=NOW).role == Role.CUSTOMER


# --- sub, role and the rest -------------------------------------------------------------------


@pytest.mark.parametrize("sub", [5, 5.5, True, None, ["c-1"], {"id": "c-1"}, "", "s" * 201])
def test_sub_must_be_a_string(sub: Any):
    assert "sub" in refusal(token(sub=sub)).lower()


@pytest.mark.parametrize("sub", [".", "..", "c\x00", "c\n1", "c\x7f", "c\x9b1"])
def test_sub_is_an_actor_id_that_a_path_can_carry(sub: str):
    """The actor-id rule (``roles.ACTOR_ID_RULE``): no control character, no dot segment."""
    words = refusal(token(sub=sub))
    assert "claim 'sub'" in words and "neither '.' nor '..'" in words
    assert actor_from_token(SECRET, token(sub="..."), now=NOW).id == "..."


@pytest.mark.parametrize("role", [1, True, None, ["customer"], {"r": 1}, "", "system", "root"])
def test_role_must_be_a_token_role(role: Any):
    assert "role" in refusal(token(role=role))


@pytest.mark.parametrize("missing", ["sub", "role", "exp"])
def test_sub_role_and_exp_are_required(missing: str):
    claims = {k: v for k, v in GOOD.items() if k != missing}
    assert missing in refusal(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_unknown_claims_are_ignored():
    extra = token(scope="everything", jti="j-1", tags=[1, {"a": None}], admin=True)
    assert actor_from_token(SECRET, extra, now=NOW).role == Role.CUSTOMER


@pytest.mark.parametrize(
    "bad",
    [
        jwt.encode(GOOD, SECRET, algorithm="HS512"),
        jwt.encode(GOOD, None, algorithm="none"),
        jwt.encode(GOOD, "another-secret-of-at-least-32-bytes!", algorithm="HS256"),
        raw_token("[1, 2]"),
        "a.b.c",
    ],
)
def test_only_well_formed_hs256_tokens_signed_with_the_secret(bad: str):
    with pytest.raises(InvalidToken):
        actor_from_token(SECRET, bad, now=NOW)


# --- minting ----------------------------------------------------------------------------------


def test_minted_tokens_carry_numbers_and_are_accepted():
    minted = mint_token(SECRET, sub="i-7", role="isv", ttl=timedelta(hours=2))
    claims = jwt.decode(minted, SECRET, algorithms=["HS256"])
    assert type(claims["exp"]) is int and type(claims["iat"]) is int
    assert claims["exp"] - claims["iat"] == 7200
    assert actor_from_token(SECRET, minted).id == "i-7"


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(days=31)])
def test_mint_refuses_lifetimes_the_gateway_would_refuse(ttl: timedelta):
    with pytest.raises(ValueError, match="ttl"):
        mint_token(SECRET, sub="c-1", role="customer", ttl=ttl)


@pytest.mark.parametrize("sub", ["", ".", "..", "c\x00", "s" * 201])
def test_mint_and_the_cli_refuse_a_sub_the_gateway_would_refuse(sub: str, monkeypatch):
    with pytest.raises(ValueError, match="sub: an id"):
        mint_token(SECRET, sub=sub, role="isv")
    monkeypatch.setenv("DC_JWT_SECRET", SECRET)
    refused = CliRunner().invoke(app, ["token", "--role", "isv", "--sub", sub])
    assert refused.exit_code == 1 and "--sub " in refused.output and "\x00" not in refused.output


def test_the_cli_mints_twelve_hours_by_default_and_checks_ttl(monkeypatch):
    monkeypatch.setenv("DC_JWT_SECRET", SECRET)
    runner = CliRunner()
    minted = runner.invoke(app, ["token", "--role", "customer", "--sub", "c-1"])
    assert minted.exit_code == 0, minted.output
    claims = jwt.decode(minted.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 12 * 3600
    week = runner.invoke(app, ["token", "--role", "isv", "--sub", "i-1", "--ttl", "P7D"])
    claims = jwt.decode(week.output.strip(), SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 7 * 86400
    for ttl, words in (
        ("PT0.5S", "fraction"),
        ("P31D", "at most P30D"),
        ("0", "zero"),
        ("P1M", "months"),
    ):
        refused = runner.invoke(app, ["token", "--role", "isv", "--sub", "i-1", "--ttl", ttl])
        assert refused.exit_code == 1 and words in refused.output, (ttl, refused.output)


# --- the Authorization header -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ([], "no Authorization header"),
        (["Bearer a.b.c", "Bearer a.b.c"], "2 Authorization headers"),
        (["Basic dXNlcjpwYXNz"], "not Bearer"),
        (["Token a.b.c"], "not Bearer"),
        (["a.b.c"], "not Bearer"),
        ([""], "not Bearer"),
        (["Bearer"], "empty"),
        (["Bearer "], "empty"),
        (["Bearer a.b c"], "b64token"),
        (["Bearer a.b.c,"], "b64token"),
        (['Bearer "a.b.c"'], "b64token"),
        (["Bearer a=b"], "b64token"),
        (["Bearer\ta.b.c"], "not Bearer"),
    ],
)
def test_a_malformed_authorization_header_is_an_invalid_request(headers: list[str], words: str):
    with pytest.raises(InvalidRequest, match=words) as caught:
        bearer_token(headers)
    assert caught.value.error == "invalid_request"


@pytest.mark.parametrize(
    "header", ["Bearer a.b.c", "bearer a.b.c", "BEARER a.b.c", "Bearer   a.b.c", " Bearer a.b.c "]
)
def test_the_scheme_is_case_insensitive(header: str):
    assert bearer_token([header]) == "a.b.c"


# --- the challenge ----------------------------------------------------------------------------

#: RFC 6750 §3: the challenge's attributes; error_description of %x20-21 / %x23-5B / %x5D-7E.
CHALLENGE = re.compile(
    r'Bearer realm="delivery-center", error="(invalid_request|invalid_token)", '
    r'error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"'
)


@pytest.mark.parametrize(
    ("problem", "error"),
    [
        (InvalidRequest("no Authorization header"), "invalid_request"),
        (InvalidToken("token has expired"), "invalid_token"),
        (InvalidToken("unknown role '\"\\\r\nSet-Cookie: x=1' é"), "invalid_token"),
    ],
)
def test_the_challenge_follows_rfc_6750(problem: Exception, error: str):
    value = challenge(problem)
    assert CHALLENGE.fullmatch(value), value
    assert f'error="{error}"' in value
