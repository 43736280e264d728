"""Email addresses: which ones Delivery Center takes, the form it keeps, the form it sends.

Two rules, both pure:

- ``normalized`` is the syntax (RFC 5321 §4.1.2, internationalised by RFC 6531/6532), true of
  every address a command carries, whoever sent it: a dot-atom local part (no quoted local
  parts, no IP literals such as ``user@[127.0.0.1]``), a domain of valid labels (IDNA 2008,
  UTS #46) whose top-level label is not all digits, at most 64 octets before the ``@`` and 254
  in all. It returns the form kept: lower-cased, NFC (RFC 6532 §3.1), the domain in Unicode
  (``user@bücher.example`` also for ``user@xn--bcher-kva.example``).
- ``refusal`` is what this installation can email (``AddressPolicy``, from settings): a local
  part beyond ASCII only if its SMTP server takes SMTPUTF8 (RFC 6531), and no special-use
  domain (``SPECIAL_USE_DOMAINS``) or single-label one unless the policy lists it.

``smtp_form`` is the form sent: the domain always in ASCII (A-labels, RFC 5890), in the
envelope and in ``To:``; the local part as kept, which needs SMTPUTF8 if it is not ASCII.

Parsing is email-validator's; only the policy is ours.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.errors import NonASCIILocalPartDefect
from email.policy import default as _email_policy

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
    text = unicodedata.normalize("NFC", address.strip().lower())
    # email-validator refuses special-use names by a list of its own, whereas ours are the
    # policy's: such a name is checked as a stand-in of the same shape, then put back.
    local_text, _, domain_text = text.rpartition("@")
    reserved = special_use(domain_text)
    stand_in = "".join("." if c == "." else "a" for c in reserved) if reserved else ""
    if reserved:
        text = f"{local_text}@{domain_text[: -len(reserved)]}{stand_in}"
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
        ascii_domain = ascii_domain[: -len(stand_in)] + reserved
        domain = domain[: -len(stand_in)] + reserved
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
    return _Parsed(f"{local}@{domain}", local, ascii_domain)


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
