"""Email addresses: which ones Delivery Center takes, the form it keeps, the form it sends.

Two rules, both pure:

- ``normalized`` is the syntax (RFC 5321 §4.1.2, internationalised by RFC 6531/6532), true of
  every address a command carries, whoever sent it: a dot-atom local part (no quoted local
  parts, no IP literals such as ``user@[127.0.0.1]``), a domain of valid labels (IDNA 2008,
  UTS #46) whose top-level label is not all digits, at most 64 octets before the ``@`` and 254
  in all, and an address an email header can carry as written (``To:``, RFC 5322 §3.4: a local
  part such as ``=?utf-8?q?ann?=`` would be decoded as an RFC 2047 encoded word). It returns
  the form kept: lower-cased, NFC (RFC 6532 §3.1), the domain in Unicode
  (``user@bücher.example`` also for ``user@xn--bcher-kva.example``).
- ``refusal`` is what this installation can email (``AddressPolicy``, from settings): a local
  part beyond ASCII only if its SMTP server takes SMTPUTF8 (RFC 6531), and no special-use
  domain (``SPECIAL_USE_DOMAINS``) or single-label one unless the policy lists it. Special-use
  names are found in the domain as UTS #46 maps it (as email-validator reads it), so
  ``ＬＯＣＡＬＨＯＳＴ`` and ``shop。test`` are ``localhost`` and ``shop.test``.

``smtp_form`` is the form sent: the domain always in ASCII (A-labels, RFC 5890), in the
envelope and in ``To:``; the local part as kept, which needs SMTPUTF8 if it is not ASCII.

Parsing is email-validator's; only the policy is ours.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.errors import MessageError, NonASCIILocalPartDefect
from email.headerregistry import Address
from email.policy import default as _email_policy
from functools import lru_cache

import idna
from email_validator import EmailNotValidError, validate_email

#: Domain names that no public mail reaches, each with every name under it, and the source
#: that reserves it. ``example.com``/``.net``/``.org`` publish a null MX (RFC 7505).
SPECIAL_USE_DOMAINS: Mapping[str, str] = {
    "alt": "RFC 9476",
    "arpa": "RFC 3172",
    "example": "RFC 2606",
    "example.com": "RFC 2606",
    "example.net": "RFC 2606",
    "example.org": "RFC 2606",
    "internal": "ICANN, 2024: private use",
    "invalid": "RFC 2606",
    "local": "RFC 6762: multicast DNS",
    "localhost": "RFC 6761",
    "onion": "RFC 7686: Tor",
    "test": "RFC 6761",
}
#: Special-use names accepted by default: this machine (the default ``DC_ADMIN_EMAIL`` and
#: ``DC_MAIL_FROM``, mail caught by the local sink) and the documentation names the examples
#: use. A production installation lists only what its own staging uses, or nothing.
DEFAULT_ALLOWED_SPECIAL_USE = ("localhost", "example", "example.com", "example.net", "example.org")

#: RFC 5321 §4.5.3.1.1 and §4.5.3.1.3 (a path of 256 octets, ``<`` and ``>`` included);
#: RFC 6531 §3.3 keeps them in octets.
MAX_LOCAL_OCTETS = 64
MAX_ADDRESS_OCTETS = 254


@dataclass(frozen=True)
class AddressPolicy:
    """What this installation can email.

    ``smtputf8``: the SMTP server takes SMTPUTF8, so a local part beyond ASCII can be sent
    (``DC_SMTP_UTF8``). ``allowed_special_use``: ASCII domain names accepted although special-use
    or single-label, each with every name under it (``DC_EMAIL_SPECIAL_USE_DOMAINS``).
    """

    smtputf8: bool = False
    allowed_special_use: frozenset[str] = field(
        default_factory=lambda: frozenset(DEFAULT_ALLOWED_SPECIAL_USE)
    )


@dataclass(frozen=True)
class SmtpAddress:
    """An address as sent: ``address`` is local part ``@`` ASCII domain; ``smtputf8`` whether
    its local part needs the SMTPUTF8 extension (RFC 6531)."""

    address: str
    smtputf8: bool


def domain_names(text: str | Iterable[str]) -> frozenset[str]:
    """Domain names from a comma-separated text (or an iterable of them), as the policy
    compares them: trimmed, lower-cased, without a final dot, empty ones dropped."""
    parts = text.split(",") if isinstance(text, str) else text
    return frozenset(name.strip().rstrip(".").lower() for name in parts if name.strip(" ."))


@dataclass(frozen=True)
class _Parsed:
    normalized: str
    local: str
    ascii_domain: str


def _parse(address: str) -> _Parsed:
    """Raises ValueError saying what is wrong."""
    if not isinstance(address, str):
        raise ValueError("an email address is a string")
    return _parse_text(address)


#: Parsing runs email-validator and IDNA for every address of every email and opening; the
#: same few addresses come back again and again, and the answer depends on the text alone.
#: A refusal is not kept: the next call parses again.
@lru_cache(maxsize=4096)
def _parse_text(address: str) -> _Parsed:
    text = unicodedata.normalize("NFC", address.strip().lower())
    # email-validator refuses special-use names by a list of its own, whereas ours are the
    # policy's: such a name is checked as a stand-in of the same shape, then put back.
    local_text, _, domain_text = text.rpartition("@")
    reserved, cut, stand_in = _reserved_suffix(domain_text)
    if reserved:
        text = f"{local_text}@{domain_text[:cut]}{stand_in}"
    try:
        found = validate_email(
            text,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
            # Dots and special-use names are the policy's to judge (``refusal``).
            globally_deliverable=False,
        )
    except EmailNotValidError as error:
        reason = str(error).replace(stand_in, reserved) if reserved else str(error)
        raise ValueError(reason) from None
    local, ascii_domain, domain = found.local_part, found.ascii_domain, found.domain
    if reserved:
        ascii_domain = ascii_domain[: -len(reserved)] + reserved
        domain = domain[: -len(reserved)] + reserved
    if ascii_domain.rsplit(".", 1)[-1].isdigit():
        raise ValueError(
            f"{ascii_domain} is an IP address, not a domain name; "
            "addresses at an IP address are not accepted"
        )
    if len(local.encode()) > MAX_LOCAL_OCTETS:
        raise ValueError(
            f"the part before the @-sign is {len(local.encode())} bytes long; "
            f"at most {MAX_LOCAL_OCTETS} are allowed"
        )
    if len(f"{local}@{ascii_domain}".encode()) > MAX_ADDRESS_OCTETS:
        raise ValueError(f"the address is too long: at most {MAX_ADDRESS_OCTETS} bytes")
    problem = header_problem(f"{local}@{ascii_domain}")
    if problem is not None:
        raise ValueError(problem)
    return _Parsed(f"{local}@{domain}", local, ascii_domain)


def _remapped(text: str) -> str | None:
    """``text`` as UTS #46 maps a domain name (full-width letters, upper case and the
    ideographic dots U+3002, U+FF0E, U+FF61 become their ASCII forms), or None if it cannot."""
    try:
        return str(idna.uts46_remap(text, std3_rules=False, transitional=False))
    except (idna.IDNAError, ValueError):
        return None


def _reserved_suffix(domain: str) -> tuple[str | None, int, str]:
    """(the special-use name the domain is or is under, where in ``domain`` the characters
    that map to it start, a stand-in for those characters), judged on the UTS #46 mapping;
    (None, 0, "") if it is none. The stand-in has an ASCII letter for each letter and a dot for
    each dot the name maps to, so email-validator sees the same shape; characters that map to
    nothing (a soft hyphen) are kept, for email-validator to refuse."""
    mapped = _remapped(domain)
    reserved = special_use(mapped) if mapped else None
    if reserved is None:
        return None, 0, ""
    for cut in range(len(domain)):
        if _remapped(domain[cut:]) == reserved:
            break
    else:
        return None, 0, ""  # not a suffix of whole characters: email-validator judges it
    stand_in = ""
    for character in domain[cut:]:
        mapped_character = _remapped(character) or ""
        if not mapped_character:
            stand_in += character
        else:
            stand_in += "".join("." if c == "." else "a" for c in mapped_character)
    return reserved, cut, stand_in


@lru_cache(maxsize=4096)
def header_problem(addr_spec: str) -> str | None:
    """Why ``addr_spec`` (local part ``@`` ASCII domain, as sent) cannot be written in an email
    header as itself, or None. The header is read back as the notifier's headers are written
    (``email.policy.default``, ``email.headerregistry.Address``); a mail reader would see a
    different address, e.g. an RFC 2047 encoded word (``=?utf-8?q?ann?=``, RFC 2047 §5) is
    decoded, and ``(comment)`` dropped (RFC 5322 §3.2.2). Pure: parses text only."""
    local = addr_spec.rpartition("@")[0]
    try:
        header = _email_policy.header_factory("To", addr_spec)
        # A local part beyond ASCII is the policy's to judge (SMTPUTF8), not the header's.
        defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
        read = [mailbox.addr_spec for mailbox in header.addresses]
        if local.isascii() and not defects:
            # The notifier writes an ASCII address through Address, which checks it again.
            read = [Address(addr_spec=addr_spec).addr_spec]
    except (MessageError, LookupError, ValueError, TypeError, IndexError) as error:
        defects, read = [error], []
    if read == [addr_spec] and not defects:
        return None
    if "=?" in local:
        return (
            f"the part before the @-sign ({local}) holds '=?', which email headers read as an "
            "RFC 2047 encoded word: it cannot be written in an email as it is"
        )
    why = f" ({defects[0]})" if defects else ""
    return f"{addr_spec} cannot be written in an email header as it is{why}"


def normalized(address: str) -> str:
    """The form kept of a syntactically valid ``address``: lower-cased, NFC, the domain in
    Unicode. Raises ValueError saying what is wrong (see the module's syntax rule)."""
    return _parse(address).normalized


def special_use(ascii_domain: str) -> str | None:
    """The entry of ``SPECIAL_USE_DOMAINS`` that ``ascii_domain`` is, or is under; else None."""
    return _under(ascii_domain, SPECIAL_USE_DOMAINS)


def _under(domain: str, names: Iterable[str]) -> str | None:
    return next((n for n in sorted(names) if domain == n or domain.endswith("." + n)), None)


def refusal(address: str, policy: AddressPolicy) -> str | None:
    """Why this installation cannot email ``address`` (the reason, in words), or None.

    Raises ValueError if ``address`` is not even valid syntax (see ``normalized``).
    """
    return _refusal(_parse(address), policy)


def _refusal(parsed: _Parsed, policy: AddressPolicy) -> str | None:
    allowed = _under(parsed.ascii_domain, policy.allowed_special_use)
    reserved = special_use(parsed.ascii_domain)
    if reserved is not None and allowed is None:
        return (
            f"{parsed.ascii_domain} is a special-use domain ({reserved}, "
            f"{SPECIAL_USE_DOMAINS[reserved]}) that email does not reach; it is accepted only if "
            "listed in "
            "DC_EMAIL_SPECIAL_USE_DOMAINS"
        )
    if "." not in parsed.ascii_domain and allowed is None:
        return (
            f"{parsed.ascii_domain} is a single name, not a full domain name with a dot; "
            "it is accepted only if listed in DC_EMAIL_SPECIAL_USE_DOMAINS"
        )
    if not parsed.local.isascii() and not policy.smtputf8:
        return (
            f"the part before the @-sign ({parsed.local}) has characters beyond ASCII, which "
            "need an SMTP server with SMTPUTF8, and this installation does not send them "
            "(DC_SMTP_UTF8 is off): please give an address written in ASCII"
        )
    return None


def accepted(address: str, policy: AddressPolicy) -> str:
    """The kept form of ``address`` if this installation can email it.

    Raises ValueError with the reason otherwise (``normalized``, then ``refusal``).
    """
    parsed = _parse(address)
    reason = _refusal(parsed, policy)
    if reason is not None:
        raise ValueError(reason)
    return parsed.normalized


def smtp_form(address: str) -> SmtpAddress:
    """``address`` as sent: its domain in ASCII (A-labels), its local part as kept.

    Raises ValueError if ``address`` is not valid syntax.
    """
    parsed = _parse(address)
    return SmtpAddress(f"{parsed.local}@{parsed.ascii_domain}", not parsed.local.isascii())


def configured_address(value: str, policy: AddressPolicy, *, display_name: bool) -> str:
    """One of our own addresses (``DC_ADMIN_EMAIL``, or ``DC_MAIL_FROM`` with
    ``display_name``, which may read ``Name <address>``), held to the parties' rule.

    Returns the kept form of an address alone, or ``value`` unchanged when it has a display
    name. Raises ValueError with the reason.
    """
    if not display_name:
        return accepted(value, policy)
    header = _email_policy.header_factory("From", value)
    # A local part beyond ASCII is the policy's to judge, not a defect of the header.
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if len(header.addresses) != 1 or defects:
        raise ValueError(f"{value[:80]!r} is not one address, nor 'Name <address>'")
    [mailbox] = header.addresses
    kept = accepted(mailbox.addr_spec, policy)
    return value if mailbox.display_name else kept
