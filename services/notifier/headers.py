"""Header values of the notifier's emails: Message-IDs, addresses in their sending form, and
a Subject header that every reader decodes to exactly the subject that was written.

Python's header folder (3.11, ``email._header_value_parser._refold_parse_tree``) loses text in
cases the subject property test finds (tests/unit/test_notifications_render.py):

- a first word too long to follow ``Subject: `` on its line (66 to 77 characters) is moved to
  the next one, leaving ``Subject:`` alone; the fold's space then reads back as a leading space
  of the subject (RFC 5322 §2.2.3 unfolding keeps it; CPython gh-124452 changed its own
  parser, not the writer);
- two encoded words on either side of a fold lose the space between them, since white space
  between adjacent encoded words is ignored (RFC 2047 §6.2; CPython gh-144156);
- text that merely looks like an encoded word (``=?utf-8?q?x?=``) is decoded on reading.

So the Subject is folded as usual, read back as a mail reader would (``email.policy.default``),
and only if that differs is it written instead as RFC 2047 encoded words throughout (UTF-8,
base64, one per line), which unfold to exactly the text. Every line stays within the policy's
``max_line_length`` (78, RFC 5322 §2.1.1).
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from email.errors import MessageError
from email.header import Header
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import getaddresses, quote
from typing import Any

from aiosmtplib.email import flatten_message

from shared.domain.addresses import smtp_form

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ExactSubject(UnstructuredHeader):
    """An unstructured header whose value is taken as plain text (never decoded as encoded
    words) and folded so that it reads back unchanged. Raises ValueError for a value with a
    line break (CR, LF or any other ``str.splitlines`` boundary)."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        """``email.headerregistry``'s hook: keep ``value`` as written (RFC 2047 look-alikes
        included). Raises ValueError for a line break."""
        if len(value.splitlines()) > 1:
            raise ValueError(f"a header value may not contain a line break: {value!r}")
        super().parse(value, kwds)
        kwds["decoded"] = value  # the text as written, "=?...?=" included

    def fold(self, *, policy: Policy) -> str:
        """The header as written on the wire: folded as usual if that reads back unchanged, else
        as RFC 2047 encoded words (UTF-8, base64); lines within ``policy.max_line_length``."""
        folded: str = super().fold(policy=policy)  # BaseHeader.fold, next in the MRO
        name: str = self.name  # set by BaseHeader.init
        if _read_back(folded, name) == str(self):
            return folded
        width = policy.max_line_length or 78
        words = Header(str(self), "utf-8", maxlinelen=width, header_name=name)
        return f"{name}: {words.encode(linesep=policy.linesep)}{policy.linesep}"


def _read_back(folded: str, name: str) -> str | None:
    """The value of the folded header ``folded`` as ``email.policy.default`` reads it."""
    value = email.message_from_string(folded, policy=email.policy.default)[name]
    return None if value is None else str(value)


_REGISTRY = HeaderRegistry()
_REGISTRY.map_to_type("subject", ExactSubject)


def subject_header(subject: str) -> BaseHeader:
    """A Subject header for ``EmailMessage`` (``message["Subject"] = subject_header(text)``)
    that decodes back to exactly ``subject``. Raises ValueError if ``subject`` holds a line
    break."""
    return _REGISTRY("Subject", subject)


def message_id(event_id: str, email: str) -> str:
    """The same for the same (event, recipient); short enough for one header line (78)."""
    digest = hashlib.sha256(f"{event_id}:{email}".encode()).hexdigest()[:12]
    return f"<{_ID_UNSAFE.sub('', event_id)[:40]}.{digest}@delivery-center>"


def thread_id(delivery_id: str) -> str:
    """A Message-ID every email of one delivery refers to, so mail clients thread them."""
    return f"<delivery.{_ID_UNSAFE.sub('', delivery_id)[:40]}@delivery-center>"


def header_address(value: str) -> Address | str:
    """``value`` (an address, or ``Name <address>``) for ``From:`` or ``To:``: its domain in
    ASCII, as in the envelope. Raises ValueError if it is not one valid address."""
    [(name, address)] = getaddresses([value]) if "<" in value else [("", value)]
    form = smtp_form(address)
    if form.smtputf8:
        # Python's Address refuses a local part beyond ASCII; as text it is written raw, which
        # the SMTPUTF8 message this address needs allows (RFC 6532).
        return f'"{quote(name)}" <{form.address}>' if name else form.address
    return Address(display_name=name, addr_spec=form.address)


#: What building or writing an email raises when its content cannot be written: the same
#: content fails the same way on every retry, so it is a permanent failure. The ``email``
#: package raises ``MessageError`` subclasses (``HeaderParseError``, ``CharsetError``, header
#: defects such as ``InvalidHeaderDefect``), ``LookupError`` for unknown codecs, ``ValueError``
#: (``UnicodeError`` among them) and ``TypeError`` for values of the wrong kind.
UNWRITABLE = (MessageError, LookupError, ValueError, TypeError)


def written(message: EmailMessage, *, smtputf8: bool) -> bytes:
    """``message`` as aiosmtplib writes it for sending (``email.policy.SMTPUTF8`` when an
    address needs SMTPUTF8, else ``email.policy.SMTP``). Raises one of ``UNWRITABLE``."""
    return flatten_message(message, utf8=smtputf8)
