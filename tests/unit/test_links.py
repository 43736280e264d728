"""Signed links: what they open, for whom, for how long, and the form token beside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from services.gateway.auth import LEEWAY
from services.gateway.pages.csrf import csrf_ok, csrf_token
from services.ops.link_commands import link_main as main
from services.runtime.links import (
    ALL_DELIVERIES,
    LinkError,
    admin_url,
    page_path,
    page_url,
    read_link,
    sign_admin_link,
    sign_link,
)
from services.runtime.list_links import read_list_link, sign_list_link
from shared.clocks import CLOCK_LEEWAY
from shared.config import Settings
from shared.domain.roles import Role

DELIVERY = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
SETTINGS = Settings(
    link_secret="unit-test-link-secret-at-least-32-bytes",
    public_url="https://dc.example.com/",
    link_ttl=3600,
)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def test_page_url_is_absolute_under_the_public_url_and_opens_the_page_as_its_party():
    url = page_url(SETTINGS, DELIVERY, "c-1", "customer")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "dc.example.com", f"/d/{DELIVERY}")
    assert set(parse_qs(parts.query)) == {"t"} and parts.fragment == ""
    link = read_link(SETTINGS, token_of(url))
    assert (link.delivery_id, link.party_id, link.role) == (DELIVERY, "c-1", Role.CUSTOMER)
    assert link.actor.model_dump() == {"id": "c-1", "role": "customer"}
    assert link.opens(DELIVERY) and not link.opens(OTHER)
    assert abs(link.signed_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_an_action_link_names_the_action_and_jumps_to_its_form():
    url = page_url(SETTINGS, DELIVERY, "i-1", Role.ISV, action="finish")
    parts = urlsplit(url)
    assert parse_qs(parts.query)["action"] == ["finish"]
    assert parts.fragment == "act-finish"
    assert read_link(SETTINGS, token_of(url)).role == Role.ISV


def test_page_url_refuses_what_no_link_may_carry():
    with pytest.raises(ValueError, match="action must be one of"):
        page_url(SETTINGS, DELIVERY, "c-1", "customer", action="expire_deadline")
    with pytest.raises(ValueError, match="role"):
        page_url(SETTINGS, DELIVERY, "shop", "marketplace")
    with pytest.raises(ValueError):
        page_url(SETTINGS, DELIVERY, "x", "system")
    with pytest.raises(ValueError, match="delivery id"):
        page_url(SETTINGS, "../admin", "c-1", "customer")
    with pytest.raises(ValueError, match="party id"):
        page_url(SETTINGS, DELIVERY, "", "customer")
    with pytest.raises(ValueError, match="admin link"):
        sign_link(SETTINGS, DELIVERY, "admin", "admin")


def test_an_admins_page_url_opens_the_delivery_with_an_admin_token():
    url = page_url(SETTINGS, DELIVERY, "admin", "admin", action="resolve_dispute")
    assert urlsplit(url).path == f"/d/{DELIVERY}"
    link = read_link(SETTINGS, token_of(url))
    assert link.is_admin and link.opens(DELIVERY) and link.party_id == "admin"


def test_a_changed_token_is_refused():
    token = sign_link(SETTINGS, DELIVERY, "c-1", "customer")
    payload, signature = token.rsplit(".", 1)
    changed = f"{payload}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"
    # The payload of another link with this one's signature.
    other = sign_link(SETTINGS, OTHER, "c-1", "customer").rsplit(".", 1)[0]
    for bad in (changed, token[:-4], f"{other}.{signature}", "x.y.z", "garbage"):
        with pytest.raises(LinkError) as refused:
            read_link(SETTINGS, bad)
        assert refused.value.kind == "tampered", bad
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, "")
    assert refused.value.kind == "malformed"


def test_a_token_signed_with_another_secret_is_refused():
    theirs = Settings(link_secret="someone-else-with-a-32-byte-secret", link_ttl=3600)
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, sign_link(theirs, DELIVERY, "c-1", "customer"))
    assert refused.value.kind == "tampered"
    # The JWT secret is not the link secret.
    jwt_only = Settings(link_secret=SETTINGS.jwt_secret, link_ttl=3600)
    with pytest.raises(LinkError):
        read_link(SETTINGS, sign_link(jwt_only, DELIVERY, "c-1", "customer"))


def test_a_token_expires_after_the_link_ttl():
    now = datetime.now(UTC)
    old = sign_link(SETTINGS, DELIVERY, "c-1", "customer", signed_at=now - timedelta(hours=2))
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, old)
    assert refused.value.kind == "expired"
    assert refused.value.expired_at is not None
    assert abs(refused.value.expired_at - (now - timedelta(hours=1))) < timedelta(seconds=5)
    fresh = sign_link(SETTINGS, DELIVERY, "c-1", "customer", signed_at=now - timedelta(minutes=59))
    assert read_link(SETTINGS, fresh).party_id == "c-1"
    # A longer lifetime in the settings makes the old one good again.
    longer = SETTINGS.model_copy(update={"link_ttl": timedelta(days=1)})
    assert read_link(longer, old).delivery_id == DELIVERY


def test_a_token_signed_in_the_future_is_refused_as_not_valid_yet_not_expired():
    ahead = sign_link(
        SETTINGS, DELIVERY, "c-1", "customer", signed_at=datetime.now(UTC) + timedelta(hours=1)
    )
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, ahead)
    assert refused.value.kind == "not_yet_valid" and refused.value.expired_at is None


SIGNED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["page", "list"])
@pytest.mark.parametrize(
    ("now", "outcome"),
    [
        (SIGNED - timedelta(seconds=2), "valid"),  # the signer's clock 2 s fast
        (SIGNED - CLOCK_LEEWAY, "valid"),  # as far ahead as bearer tokens' iat may be
        (SIGNED - CLOCK_LEEWAY - timedelta(seconds=1), "not_yet_valid"),
        (SIGNED - timedelta(days=400), "not_yet_valid"),
        (SIGNED + timedelta(hours=1), "valid"),  # the whole lifetime, to the second
        (SIGNED + timedelta(hours=1, seconds=1), "expired"),
    ],
)
def test_links_allow_the_tokens_clock_leeway_ahead_and_none_at_expiry(kind, now, outcome):
    sign, read = (sign_link, read_link) if kind == "page" else (sign_list_link, read_list_link)
    args = (DELIVERY, "c-1", "customer") if kind == "page" else ("c-1", "customer")
    token = sign(SETTINGS, *args, signed_at=SIGNED)
    if outcome == "valid":
        assert read(SETTINGS, token, now=now).signed_at == SIGNED
        return
    with pytest.raises(LinkError) as refused:
        read(SETTINGS, token, now=now)
    assert refused.value.kind == outcome
    if outcome == "expired":
        assert refused.value.expired_at == SIGNED + timedelta(hours=1)
    else:
        assert refused.value.signed_at == SIGNED and refused.value.expired_at is None


def test_the_links_leeway_is_the_bearer_tokens():
    assert CLOCK_LEEWAY == LEEWAY == timedelta(seconds=60)


def test_a_link_of_the_other_kind_says_what_it_opens():
    list_token = sign_list_link(SETTINGS, "c-1", "customer")
    with pytest.raises(LinkError) as refused:
        read_link(SETTINGS, list_token)
    assert refused.value.kind == "other_page"
    assert refused.value.opens == read_list_link(SETTINGS, list_token)
    for token in (sign_link(SETTINGS, DELIVERY, "c-1", "customer"), sign_admin_link(SETTINGS)):
        with pytest.raises(LinkError) as refused:
            read_list_link(SETTINGS, token)
        assert refused.value.kind == "other_page"
        assert refused.value.opens == read_link(SETTINGS, token)


def test_the_admin_link_opens_every_delivery_and_the_list():
    url = admin_url(SETTINGS)
    assert url.startswith("https://dc.example.com/admin?t=")
    link = read_link(SETTINGS, token_of(url))
    assert link.is_admin and link.delivery_id == ALL_DELIVERIES and link.party_id == "admin"
    assert link.opens(DELIVERY) and link.opens(OTHER)
    assert read_link(SETTINGS, sign_admin_link(SETTINGS)).is_admin
    # A party's link is no admin's.
    assert not read_link(SETTINGS, sign_link(SETTINGS, DELIVERY, "c-1", "customer")).is_admin


def test_the_form_token_binds_the_link_and_the_delivery():
    token = sign_link(SETTINGS, DELIVERY, "c-1", "customer")
    csrf = csrf_token(SETTINGS, token, DELIVERY)
    assert len(csrf) == 64 and csrf != token
    assert csrf_ok(SETTINGS, token, DELIVERY, csrf)
    assert not csrf_ok(SETTINGS, token, DELIVERY, None)
    assert not csrf_ok(SETTINGS, token, DELIVERY, "")
    assert not csrf_ok(SETTINGS, token, OTHER, csrf)
    assert not csrf_ok(SETTINGS, sign_link(SETTINGS, DELIVERY, "i-1", "isv"), DELIVERY, csrf)
    other_secret = SETTINGS.model_copy(update={"link_secret": "another"})
    assert not csrf_ok(other_secret, token, DELIVERY, csrf)


def test_page_path_is_relative_and_escapes_its_query():
    path = page_path(DELIVERY, "a.b_c-d", command="c1")
    assert path == f"/d/{DELIVERY}?t=a.b_c-d&command=c1"


def test_the_settings_have_safe_defaults_and_read_the_environment(monkeypatch):
    defaults = Settings()
    assert defaults.link_ttl == timedelta(days=30)
    assert defaults.link_secret != defaults.jwt_secret
    monkeypatch.setenv("DC_LINK_SECRET", "from-the-environment-32-bytes-long")
    monkeypatch.setenv("DC_LINK_TTL", "P7D")
    configured = Settings()
    assert configured.link_secret == "from-the-environment-32-bytes-long"
    assert configured.link_ttl == timedelta(days=7)


def test_the_command_prints_links(capsys, monkeypatch):
    monkeypatch.setenv("DC_PUBLIC_URL", "https://dc.example.com")
    assert main(["admin"]) == 0
    assert capsys.readouterr().out.startswith("https://dc.example.com/admin?t=")
    assert main(["delivery", DELIVERY, "c-1", "customer", "confirm"]) == 0
    assert "action=confirm" in capsys.readouterr().out
    assert main(["nonsense"]) == 2
