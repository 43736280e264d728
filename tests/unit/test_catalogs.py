"""The translation catalogs are complete and current: every msgid in the code and templates
is in every catalog, every Chinese message is translated with the same placeholders, no
translation is fuzzy, and every translated date pattern formats; so a new English string
cannot ship untranslated (README, "Adding a language": run the catalog steps, then translate)."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime

import pytest
from babel.dates import format_datetime
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from shared.domain.locales import CATALOGS
from shared.wording import MOMENT_PATTERN
from shared.wording.scores import DAY, SHORT_DAY
from tooling.catalogs import SOURCE, extract, po_path

#: The msgids that are CLDR date patterns (Unicode TR35), not sentences.
DATE_PATTERNS = {MOMENT_PATTERN._args[0], DAY._args[0], SHORT_DAY._args[0]}  # noqa: SLF001
_PERCENT = re.compile(r"%\((\w+)\)[sd]|%%")
_FIELDS = re.compile(r"\{[^{}]*\}|%\(\w+\)[sd]|<[^>]*>")
#: Two ASCII letters in a row: a word that should have been translated.
_ASCII_WORD = re.compile(r"[A-Za-z]{2}")


def _without_placeholders(text: str) -> str:
    """``text`` without its placeholders and markup, which stay as they are in any language."""
    return _FIELDS.sub("", text)


def _catalog(folder: str) -> Catalog:
    with po_path(folder).open("rb") as po:
        return read_po(po, locale=folder)


EXTRACTED = extract()
WANTED = {message.id for message in EXTRACTED if message.id}
TRANSLATIONS = sorted(set(CATALOGS.values()) - {SOURCE})


def placeholders(text: str) -> tuple[set[str], list[str]]:
    """The ``{name}`` fields (str.format) and the ``%(name)s`` ones (Jinja's newstyle
    gettext) of ``text``, each as a set; Python's own parser reads the braces."""
    braces = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    return braces, sorted(_PERCENT.findall(text))


def _forms(message: Message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple) else [message.string]


def _ids(message: Message) -> list[str]:
    return list(message.id) if isinstance(message.id, tuple) else [message.id]


@pytest.mark.parametrize("folder", sorted(CATALOGS.values()))
def test_every_catalog_holds_exactly_the_msgids_of_the_code(folder):
    held = {message.id for message in _catalog(folder) if message.id}
    missing, stale = WANTED - held, held - WANTED
    assert not missing, f"{folder}: not in the catalog, run the catalog steps: {sorted(missing)}"
    assert not stale, f"{folder}: no longer in the code, run the catalog steps: {sorted(stale)}"


@pytest.mark.parametrize("folder", TRANSLATIONS)
def test_every_message_is_translated_with_the_same_placeholders(folder):
    problems = []
    for message in _catalog(folder):
        if not message.id:
            continue
        if "fuzzy" in message.flags:
            problems.append(f"fuzzy: {message.id!r}")
        for form in _forms(message):
            if not form.strip():
                problems.append(f"untranslated: {message.id!r}")
                continue
            if form == _ids(message)[-1] and _ASCII_WORD.search(_without_placeholders(form)):
                problems.append(f"left in English: {message.id!r}")
                continue
            if message.id in DATE_PATTERNS:
                continue
            wanted = placeholders(_ids(message)[-1])
            if placeholders(form) != wanted:
                problems.append(
                    f"placeholders of {message.id!r}: {form!r} has {placeholders(form)}"
                )
    assert not problems, "\n".join(problems)


def test_the_source_catalog_says_each_msgid_as_written():
    # Empty is gettext's "as written" too (what ``pybabel update`` adds for a new message).
    for message in _catalog(SOURCE):
        if message.id:
            assert all(
                form in ("", wanted)
                for form, wanted in zip(_forms(message), _ids(message), strict=True)
            ), message.id


@pytest.mark.parametrize("folder", TRANSLATIONS)
def test_every_translated_date_pattern_formats(folder):
    moment = datetime(2026, 12, 14, 4, 56, tzinfo=UTC)
    catalog = _catalog(folder)
    for pattern in DATE_PATTERNS:
        translated = catalog.get(pattern).string
        assert format_datetime(moment, translated, locale=folder).strip(), pattern


def test_each_catalog_has_its_languages_plural_rule():
    assert _catalog("en").num_plurals == 2
    assert _catalog("zh_Hans").num_plurals == 1
