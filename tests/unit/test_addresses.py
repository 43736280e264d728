"""Email addresses: the syntax every command holds to, the installation's policy (SMTPUTF8,
special-use domains), the form kept and the form sent (shared.domain.addresses)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
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


# --- the issue's examples -------------------------------------------------------------------


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


# --- only addresses an email header carries as written (issue 15) --------------------------

ENCODED_WORD_LOOKALIKES = [
    # The issue's: each was taken, then could not be written in the email's To:.
    "=?utf-8?q?ann?=@example.com",
    "=?utf-8?b?YQ==?=@example.com",
    "=?utf-8?q?a?=.b@example.com",
    "=?x?q?a?=@example.com",
    # More of the kind: decoded as encoded words, or otherwise read as another address.
    "=?utf-8?q?a?=+b@example.com",
    "=?utf-8*en?q?a?=@example.com",
    "=?iso-8859-1?q?=e9?=@example.com",
    "=?utf-8?q??=@example.com",
    "=?us-ascii?b?Ym9i?=.x@example.com",
]


@pytest.mark.parametrize("address", ENCODED_WORD_LOOKALIKES)
def test_a_local_part_read_as_an_encoded_word_is_refused_naming_why(address: str):
    for policy in (DEFAULT, SMTPUTF8):
        with pytest.raises(ValueError, match="RFC 2047 encoded word"):
            accepted(address, policy)
    with pytest.raises(ValueError, match="RFC 2047"):
        email.validate_python(address)


@pytest.mark.parametrize(
    "address",
    [
        "a=?b@example.com",
        "a?=b@example.com",
        "=@example.com",
        "?@example.com",
        # An encoded word only after white space or at the start (RFC 2047 §5): read as is.
        "a.=?utf-8?q?b?=@example.com",
    ],
)
def test_equals_and_question_marks_that_form_no_encoded_word_are_taken(address: str):
    assert accepted(address, DEFAULT) == address
    assert _written_and_read_back(address) == address


def _written_and_read_back(address: str) -> str:
    """``address`` written into an email's To: by the notifier's header code, the message
    flattened as aiosmtplib sends it (SMTPUTF8 when needed), then read as a mail reader."""
    import email as email_package
    import email.policy
    from email.message import EmailMessage

    from services.notifier.headers import header_address

    form = smtp_form(address)
    message = EmailMessage()
    message["To"] = header_address(address)
    message["From"] = header_address("Delivery Center <noreply@localhost>")
    message.set_content("x")
    policy = email.policy.SMTPUTF8 if form.smtputf8 else email.policy.SMTP
    # Read as UTF-8 (RFC 6532): message_from_bytes would take the raw bytes as ASCII.
    written = message.as_bytes(policy=policy).decode("utf-8")
    read = email_package.message_from_string(written, policy=policy)
    [mailbox] = read["To"].addresses
    assert mailbox.addr_spec == form.address
    return address


_ATEXT = "abcxyz0189!#$%&'*+-/=?^_`{|}~." + "üéßж日"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=_ATEXT, min_size=1, max_size=20)
    | st.lists(
        st.sampled_from(["=?", "?=", "utf-8", "?q?", "?b?", "x", ".", "ü", "YQ==", "a", "=e9"]),
        min_size=1,
        max_size=10,
    ).map("".join),
    st.sampled_from(["example.com", "bücher.example", "localhost"]),
)
def test_every_address_taken_can_be_written_by_the_notifier(local: str, domain: str):
    address = f"{local}@{domain}"
    try:
        kept = accepted(address, SMTPUTF8)
    except ValueError:
        return
    _written_and_read_back(kept)


FULL_WIDTH = str.maketrans(
    {c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ."}
)


def _forms(name: str) -> list[str]:
    """``name`` as people and keyboards write it: upper case, full-width, the three other dots
    UTS #46 maps to '.' (ideographic U+3002, full-width U+FF0E, half-width U+FF61), mixed."""
    dotted = f"shop.{name}"
    return [
        dotted.upper(),
        dotted.translate(FULL_WIDTH),
        dotted.upper().translate(FULL_WIDTH),
        dotted.replace(".", "\u3002"),
        dotted.replace(".", "\uff0e"),
        dotted.replace(".", "\uff61"),
        "ShOp\u3002" + name.translate(FULL_WIDTH).upper(),
        name.translate(FULL_WIDTH),
    ]


@pytest.mark.parametrize("name", sorted(SPECIAL_USE_DOMAINS))
def test_special_use_names_are_found_in_every_written_form(name: str):
    for written in _forms(name):
        address = f"ann@{written}"
        expected_domain = name if written == name.translate(FULL_WIDTH) else f"shop.{name}"
        if name in DEFAULT_ALLOWED_SPECIAL_USE:
            assert accepted(address, DEFAULT) == f"ann@{expected_domain}", written
        else:
            with pytest.raises(ValueError, match="DC_EMAIL_SPECIAL_USE_DOMAINS") as refused:
                accepted(address, DEFAULT)
            if "." in name or written != name.translate(FULL_WIDTH):
                assert f"special-use domain ({name}" in str(refused.value), written
        with pytest.raises(ValueError, match="DC_EMAIL_SPECIAL_USE_DOMAINS"):
            accepted(address, STRICT)
        listed = AddressPolicy(allowed_special_use=frozenset({name}))
        assert accepted(address, listed) == f"ann@{expected_domain}", written
        # A final dot, ASCII or not, is not an address (email-validator's own reason).
        for dot in (".", "\u3002", "\uff0e"):
            with pytest.raises(ValueError, match="period"):
                accepted(address + dot, listed)


def test_the_issues_full_width_and_ideographic_forms():
    assert accepted("ann@ＬＯＣＡＬＨＯＳＴ", DEFAULT) == "ann@localhost"
    for address in ("ann@shop．test", "ann@shop。test"):
        with pytest.raises(ValueError, match=r"special-use domain \(test, RFC 6761\)"):
            accepted(address, DEFAULT)
    # A character UTS #46 maps to nothing stays email-validator's to refuse.
    with pytest.raises(ValueError, match="SOFT HYPHEN"):
        accepted("ann@local\u00adhost", DEFAULT)
