"""A pseudo-locale: every msgid read through it comes back between ⟦ and ⟧, so text that did
not pass through a catalog shows up as text outside the marks (the pseudo-locale tests of the
emails and the pages)."""

from __future__ import annotations

import gettext
import re

OPEN, CLOSE = "⟦", "⟧"
_MARKED = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")


class PseudoTranslations(gettext.NullTranslations):
    """Every message marked; placeholders kept inside the marks, so they are still filled."""

    def gettext(self, message: str) -> str:
        return f"{OPEN}{message}{CLOSE}"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"{OPEN}{singular if n == 1 else plural}{CLOSE}"


PSEUDO = PseudoTranslations()


def unmarked(text: str, *, data: tuple[str, ...] = ()) -> str:
    """What is left of ``text`` once every marked message (innermost first, as messages are
    put into messages) and every piece of ``data`` (what a party typed, ids, addresses, URLs)
    is taken out, with its white space collapsed."""
    for piece in sorted(data, key=len, reverse=True):
        if piece:
            text = text.replace(piece, " ")
    while True:
        stripped = _MARKED.sub(" ", text)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.split())


def letters(text: str) -> list[str]:
    """The words of ``text`` with a letter in them (any script)."""
    return [word for word in text.split() if any(ch.isalpha() for ch in word)]
