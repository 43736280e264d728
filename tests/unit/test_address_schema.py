"""The email field's schema refuses exactly what the installation's policy refuses
(``shared.domain.address_schema`` against ``addresses.refusal``), for several policies."""

from __future__ import annotations

import itertools

import pytest
from jsonschema import Draft202012Validator

from shared.domain.address_schema import policy_schema
from shared.domain.addresses import SPECIAL_USE_DOMAINS, AddressPolicy, refusal

POLICIES = [
    AddressPolicy(),
    AddressPolicy(smtputf8=True),
    AddressPolicy(allowed_special_use=frozenset()),
    AddressPolicy(allowed_special_use=frozenset({"corp.test", "intranet"})),
]
DOMAINS = [
    *SPECIAL_USE_DOMAINS,
    *(f"mail.{name}" for name in SPECIAL_USE_DOMAINS),
    "corp.test",
    "a.corp.test",
    "notcorp.test",
    "intranet",
    "host.intranet",
    "example.co",
    "testing.com",
    "test.com",
    "localhost.net",
    "EXAMPLE.TEST",
    "Shop.Example",
    "a.b.c.de",
    "box",
    "xn--bcher-kva.ch",
]
LOCAL_PARTS = ["ann", "ann.lee+tag", "josé", "用户"]


@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: f"utf8={p.smtputf8},{sorted(p.allowed_special_use)}"
)
def test_the_schema_refuses_what_the_policy_refuses(policy: AddressPolicy) -> None:
    validator = Draft202012Validator({"type": "string", **policy_schema(policy)})
    for local, domain in itertools.product(LOCAL_PARTS, DOMAINS):
        address = f"{local}@{domain}"
        assert validator.is_valid(address) is (refusal(address, policy) is None), address
