"""Email addresses: the syntax every command holds to, the installation's policy (SMTPUTF8,
special-use domains), the form kept and the form sent (shared.domain.addresses)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from shared.config import Settings
from shared.domain.addresses import (
    DEFAULT_ALLOWED_SPECIAL_USE,
    SPECIAL_USE_DOMAINS,
    AddressPolicy,
    accepted,
    domain_names,
    normalized,
    refusal,
    smtp_form,
)
from shared.domain.commands import Contact, Email, OpenDelivery, address_context

DEFAULT = AddressPolicy()
SMTPUTF8 = AddressPolicy(smtputf8=True)
STAGING = AddressPolicy(allowed_special_use=domain_names("localhost, test, corp.internal"))
STRICT = AddressPolicy(allowed_special_use=frozenset())
email = TypeAdapter(Email)


# --- the examples -------------------------------------------------------------------


def test_a_local_part_beyond_ascii_is_refused_without_smtputf8_and_taken_with_it():
    reason = refusal("üser@example.com", DEFAULT)
    assert reason is not None and "DC_SMTP_UTF8 is off" in reason and "üser" in reason
    assert refusal("üser@example.com", SMTPUTF8) is None
    assert smtp_form("üser@example.com").smtputf8


def test_an_idn_domain_is_kept_in_unicode_and_sent_in_ascii():
    for given_as in ("user@bücher.example", "user@xn--bcher-kva.example", "USER@BÜCHER.example"):
        assert accepted(given_as, DEFAULT) == "user@bücher.example"
        sent = smtp_form(given_as)
        assert sent.address == "user@xn--bcher-kva.example" and not sent.smtputf8


def test_special_use_domains_follow_one_rule_with_the_defaults():
    # Our own default DC_ADMIN_EMAIL and the documentation names are accepted by default ...
    assert refusal("admin@localhost", DEFAULT) is None
    assert refusal("ada@example.com", DEFAULT) is None
    assert refusal("sales@isv.example", DEFAULT) is None
    # ... every other special-use name is not: .test as much as .internal.
    for address in ("buyer@shop.test", "ops@corp.internal", "a@printer.local", "a@x.onion"):
        reason = refusal(address, DEFAULT)
        assert reason is not None and "DC_EMAIL_SPECIAL_USE_DOMAINS" in reason, address
    assert "RFC 6761" in (refusal("buyer@shop.test", DEFAULT) or "")


def test_the_defaults_of_our_own_addresses_obey_the_rule_under_the_default_settings():
    settings = Settings()
    assert refusal(settings.admin_email, settings.address_policy) is None
    assert settings.address_policy == DEFAULT
    assert settings.mail_from == "Delivery Center <delivery-center@localhost>"


# --- the policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("buyer@shop.test", True),
        ("buyer@eu.shop.test", True),
        ("ops@corp.internal", True),
        ("ops@eu.corp.internal", True),
        ("ops@other.internal", False),  # only corp.internal is listed
        ("ops@notcorp.internal", False),  # a suffix is a whole label, not some letters
        ("a@b.invalid", False),
        ("root@localhost", True),
        ("ada@example.com", False),  # the staging list replaces the default one
    ],
)
def test_the_special_use_setting_lists_domains_with_the_names_under_them(address, allowed):
    assert (refusal(address, STAGING) is None) is allowed


@pytest.mark.parametrize("name", sorted(SPECIAL_USE_DOMAINS))
def test_every_special_use_name_and_those_under_it_are_refused_unless_listed(name):
    for address in (f"a@{name}", f"a@mail.{name}"):
        assert refusal(address, STRICT) is not None, address
        assert refusal(address, AddressPolicy(allowed_special_use=frozenset({name}))) is None


def test_a_single_label_domain_is_refused_unless_listed():
    assert "single name" in (refusal("a@mailhost", DEFAULT) or "")
    assert refusal("a@mailhost", AddressPolicy(allowed_special_use=frozenset({"mailhost"}))) is None
    assert refusal("admin@localhost", STRICT) is not None


def test_domain_names_of_the_setting():
    assert domain_names(" Test, shop.EXAMPLE. ,,") == {"test", "shop.example"}
    assert domain_names("") == frozenset()
    assert domain_names(["a.b", " "]) == {"a.b"}
    assert set(DEFAULT_ALLOWED_SPECIAL_USE) == DEFAULT.allowed_special_use


# --- the syntax -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ('"john doe"@example.com', "Quoting"),
        ('"a@b"@example.com', "Quoting"),
        ("user@[127.0.0.1]", "bracketed IP"),
        ("user@[IPv6:::1]", "bracketed IP"),
        ("user@127.0.0.1", "IP address"),
        ("user@example.com.", "period"),
        ("user.@example.com", "period"),
        ("us..er@example.com", "period"),
        ("user@", "after the @-sign"),
        ("@example.com", "before the @-sign"),
        ("user", "@-sign"),
        ("a b@example.com", ""),
        ("ada@example.com\r\nBcc: x@evil.example", ""),
        ("Ada <ada@example.com>", "display name"),
        ("user@xn--x.com", "IDNA"),
        ("user@-x.com", "hyphen"),
        ("user@x_y.com", "invalid characters"),
        ("a" * 65 + "@example.com", "64"),
        ("ü" * 33 + "@example.com", "64"),  # 66 bytes in UTF-8 (RFC 6531 counts octets)
        ("a@" + "b" * 64 + ".com", "period"),
        ("a@" + ".".join(["b" * 60] * 5) + ".com", "too long"),
    ],
)
def test_what_is_not_an_address(address, why):
    with pytest.raises(ValueError, match=why or None):
        normalized(address)
    with pytest.raises(ValueError):
        refusal(address, SMTPUTF8)


def test_the_longest_addresses_that_are_still_addresses():
    local = "a" * 64
    assert normalized(f"{local}@example.com") == f"{local}@example.com"
    assert normalized("ü" * 32 + "@example.com")  # 64 bytes
    domain = ".".join(["b" * 63] * 3) + "." + "c" * 60
    assert len(f"a@{domain}") == 254
    assert normalized(f"a@{domain}") == f"a@{domain}"
    with pytest.raises(ValueError):
        normalized(f"ab@{domain}")


def test_uppercase_and_unicode_forms_are_kept_as_one():
    assert normalized(" Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    decomposed = "zoe\u0308@example.com"  # e + combining diaeresis
    assert normalized(decomposed) == "zoë@example.com"  # NFC, RFC 6532 §3.1


@given(st.emails())
def test_any_address_is_kept_in_one_form_and_sent_with_an_ascii_domain(address: str):
    try:
        kept = normalized(address)
    except ValueError:
        return  # some generated addresses break limits this rule keeps (64 bytes, IP forms)
    assert normalized(kept) == kept == kept.lower()
    sent = smtp_form(kept)
    assert sent.address.partition("@")[2].isascii()
    assert sent.smtputf8 is (not kept.partition("@")[0].isascii())
    assert normalized(sent.address) == kept  # the ASCII form reads back as the kept one


@given(
    st.sampled_from(["bücher", "straße", "例え", "пример", "δοκιμή", "xn--bcher-kva"]),
    st.sampled_from(["example", "example.com", "de", "com"]),
)
def test_idn_domains_are_sent_as_a_labels(label: str, suffix: str):
    sent = smtp_form(f"user@{label}.{suffix}")
    assert sent.address.isascii() and sent.address.startswith("user@xn--")
    assert not sent.smtputf8


# --- the Email type: syntax always, the policy when the gateway passes it -------------------


def test_the_email_type_applies_the_policy_only_from_the_context():
    assert email.validate_python("Ops@Corp.Internal") == "ops@corp.internal"  # the bus: syntax
    with pytest.raises(ValidationError) as raised:
        email.validate_python("ops@corp.internal", context=address_context(DEFAULT))
    [error] = raised.value.errors()
    assert error["type"] == "value_error"
    assert error["msg"].startswith("value is not a valid email address: corp.internal")
    assert email.validate_python("üser@example.com", context=address_context(SMTPUTF8))


def test_every_address_field_of_the_commands_takes_the_policy():
    body = {
        "order_id": "o-1",
        "order_spec": "x",
        "product_id": "p",
        "isv_id": "i",
        "customer_id": "c",
        "customer_email": "üser@example.com",
        "isv_email": "sales@shop.test",
        "process": "basic",
    }
    with pytest.raises(ValidationError) as raised:
        OpenDelivery.model_validate(body, context=address_context(DEFAULT))
    assert {e["loc"] for e in raised.value.errors()} == {("customer_email",), ("isv_email",)}
    contact = {"name": "Ann", "phone": "+1 555 0100", "email": "ann@shop.test"}
    with pytest.raises(ValidationError) as raised:
        Contact.model_validate(contact, context=address_context(DEFAULT))
    assert [e["loc"] for e in raised.value.errors()] == [("email",)]
    assert Contact.model_validate(contact, context=address_context(STAGING)).email == (
        "ann@shop.test"
    )


# --- our own addresses in the settings ------------------------------------------------------


def test_our_own_addresses_are_held_to_the_same_rule(monkeypatch):
    with pytest.raises(ValidationError, match="corp.internal is a special-use"):
        Settings(admin_email="ops@corp.internal")
    with pytest.raises(ValidationError, match="DC_SMTP_UTF8"):
        Settings(admin_email="öps@example.com")
    with pytest.raises(ValidationError, match="not one address"):
        Settings(mail_from="a@example.com, b@example.com")
    monkeypatch.setenv("DC_EMAIL_SPECIAL_USE_DOMAINS", "localhost,internal")
    assert Settings(admin_email="Ops@Corp.Internal").admin_email == "ops@corp.internal"
    monkeypatch.setenv("DC_EMAIL_SPECIAL_USE_DOMAINS", "")
    # With no special-use name allowed, the development defaults are refused, saying why.
    with pytest.raises(ValidationError, match="localhost is a special-use"):
        Settings()
    monkeypatch.setenv("DC_SMTP_UTF8", "true")
    monkeypatch.setenv("DC_ADMIN_EMAIL", "öps@bücher.de")
    monkeypatch.setenv("DC_MAIL_FROM", "Zoë <zoë@bücher.de>")
    settings = Settings()
    assert settings.admin_email == "öps@bücher.de" and settings.mail_from == "Zoë <zoë@bücher.de>"


def test_the_sending_lease_is_a_bounded_duration():
    assert Settings(smtp_sending_lease="PT10S").smtp_sending_lease == timedelta(seconds=10)
    with pytest.raises(ValidationError):
        Settings(smtp_sending_lease="PT1H")  # past RabbitMQ's 30-minute consumer timeout
