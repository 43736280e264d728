"""What an installation's address policy (``addresses.AddressPolicy``) adds to an email
field's JSON Schema, so that the OpenAPI document a client reads refuses what the gateway
refuses (issue 20): special-use and single-name domains unless allowed, and local parts
beyond ASCII unless the SMTP server takes SMTPUTF8. Pure: no I/O.

JSON Schema's ``format: idn-email`` states the syntax (RFC 6531; ``email``, RFC 5321, when
the SMTP server takes no SMTPUTF8); these add a ``not`` of ECMA-262 regular expressions that
Python's ``re`` reads alike. The domain is compared as written; a domain
the policy judges after IDNA mapping (a full-width dot, an upper-case or compatibility
character) may pass the schema and still be refused.
"""

from __future__ import annotations

import re
from typing import Any

from shared.domain.addresses import SPECIAL_USE_DOMAINS, AddressPolicy

#: The field marker the gateway's document replaces with :func:`policy_schema`.
POLICY_MARKER = "x-address-policy"
#: An address whose local part goes beyond ASCII, which needs SMTPUTF8 (RFC 6531).
NON_ASCII_LOCAL_PART = r"^[^@]*[^\x00-\x7f][^@]*@"


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
    """The keywords ``policy`` adds to an email field's schema, and a description of them.

    Without SMTPUTF8 the format is ``email`` (RFC 5321), whose generators make ASCII local
    parts, and the ``not`` refuses a local part beyond ASCII as well; a positive ``pattern``
    for it would leave generators filtering out nearly every address they make.
    """
    allowed = ", ".join(sorted(policy.allowed_special_use)) or "none"
    refused: dict[str, Any] = {"pattern": refused_domains_pattern(policy)}
    description = (
        "An email address this installation can send to: no special-use domain "
        f"({', '.join(sorted(SPECIAL_USE_DOMAINS))}) and no single name without a dot, "
        f"unless allowed (DC_EMAIL_SPECIAL_USE_DOMAINS: {allowed})"
    )
    if policy.smtputf8:
        return {"not": refused, "description": description}
    return {
        "format": "email",
        "not": {"anyOf": [refused, {"pattern": NON_ASCII_LOCAL_PART}]},
        "description": f"{description}; the part before the @ in ASCII (DC_SMTP_UTF8 is off)",
    }
