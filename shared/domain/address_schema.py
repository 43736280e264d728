"""What an installation's address policy (``addresses.AddressPolicy``) adds to an email
field's JSON Schema, so that the OpenAPI document a client reads refuses what the gateway
refuses (issue 20): special-use and single-name domains unless allowed, and local parts
beyond ASCII unless the SMTP server takes SMTPUTF8. Pure: no I/O.

JSON Schema's ``format: idn-email`` states the syntax (RFC 6531); these add ``pattern`` and
``not`` (ECMA-262 regular expressions that Python's ``re`` reads alike). The domain is
compared as written; a domain the policy judges after IDNA mapping (a full-width dot, an
upper-case or compatibility character) may pass the schema and still be refused.
"""

from __future__ import annotations

import re
from typing import Any

from shared.domain.addresses import SPECIAL_USE_DOMAINS, AddressPolicy

#: The field marker the gateway's document replaces with :func:`policy_schema`.
POLICY_MARKER = "x-address-policy"
#: A local part in ASCII: what an SMTP server without SMTPUTF8 takes (RFC 5321).
ASCII_LOCAL_PART = r"^[\x00-\x7f]+@"


def _names(names: frozenset[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(name) for name in sorted(names))


def refused_domains_pattern(policy: AddressPolicy) -> str:
    """A pattern matching an address whose domain ``policy`` refuses: one that is, or is under,
    a special-use name (``SPECIAL_USE_DOMAINS``), or a single name without a dot, unless it
    is, or is under, a name the policy allows. Case-insensitive; a final dot ignored."""
    refused = rf"(?:(?:[^@]*\.)?(?:{_names(tuple(SPECIAL_USE_DOMAINS))})|[^@.]+)\.?$"
    allowed = policy.allowed_special_use
    if not allowed:
        return rf"(?i)@{refused}"
    return rf"(?i)@(?!(?:[^@]*\.)?(?:{_names(allowed)})\.?$){refused}"


def policy_schema(policy: AddressPolicy) -> dict[str, Any]:
    """The keywords ``policy`` adds to an email field's schema, and a description of them."""
    allowed = ", ".join(sorted(policy.allowed_special_use)) or "none"
    schema: dict[str, Any] = {
        "not": {"pattern": refused_domains_pattern(policy)},
        "description": (
            "An email address this installation can send to: no special-use domain "
            f"({', '.join(sorted(SPECIAL_USE_DOMAINS))}) and no single name without a dot, "
            f"unless allowed (DC_EMAIL_SPECIAL_USE_DOMAINS: {allowed})"
        ),
    }
    if not policy.smtputf8:
        schema["pattern"] = ASCII_LOCAL_PART
        schema["description"] += "; the part before the @ in ASCII (DC_SMTP_UTF8 is off)"
    return schema
