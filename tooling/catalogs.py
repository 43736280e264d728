"""The translation catalogs' upkeep, as ``pybabel extract`` and ``pybabel update`` do it, in
one call: read every msgid from the code and the templates (``shared/wording/babel.cfg``,
``shared.wording.reader.KEYWORDS``), write ``messages.pot``, and bring each language's
``messages.po`` up to date: a new or changed msgid is added untranslated (no fuzzy guesses: a
guess would ship as a translation once its mark is removed by mistake), a gone one is kept as
an obsolete ``#~`` entry, and the English catalog says each msgid as written. The README's
"Adding a language" section gives the same steps as ``pybabel`` commands; the catalog tests
call :func:`extract` to find what is missing.
"""

from __future__ import annotations

import copy
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from shared.domain.locales import CATALOGS
from shared.wording.reader import DOMAIN, KEYWORDS

#: The checkout's root: extraction paths in ``babel.cfg`` are relative to it.
ROOT = Path(__file__).resolve().parent.parent
WORDING = ROOT / "shared" / "wording"
MAPPING = WORDING / "babel.cfg"
LOCALES = WORDING / "locales"
TEMPLATE = LOCALES / f"{DOMAIN}.pot"
#: The catalog of the language the msgids are written in.
SOURCE = "en"


def po_path(catalog: str) -> Path:
    """A catalog folder's ``.po`` file (``zh_Hans`` -> ``.../zh_Hans/LC_MESSAGES/messages.po``)."""
    return LOCALES / catalog / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract() -> Catalog:
    """Every msgid in the code and templates, with where it is and its flags (as
    ``pybabel extract -F shared/wording/babel.cfg -k ...``)."""
    with MAPPING.open(encoding="utf-8") as mapping:
        method_map, options_map = parse_mapping_cfg(mapping)
    keywords = dict(DEFAULT_KEYWORDS) | parse_keywords(list(KEYWORDS))
    template = Catalog(project="Delivery Center", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords, strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def update() -> dict[str, int]:
    """Write ``messages.pot`` and update every catalog's ``.po`` from it; the number of
    messages each catalog has left untranslated (English: its msgids are its words)."""
    template = extract()
    with TEMPLATE.open("wb") as out:
        write_po(out, template, width=0, sort_by_file=True)
    untranslated = {}
    for catalog in CATALOGS.values():
        path = po_path(catalog)
        if path.exists():
            with path.open("rb") as po:
                current = read_po(po, locale=catalog)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            current = Catalog(locale=catalog, project="Delivery Center", fuzzy=False)
        # A deep copy each: update() adopts the template's message objects, so filling one
        # catalog's strings would fill every later one's.
        current.update(copy.deepcopy(template), no_fuzzy_matching=True)
        if catalog == SOURCE:
            _words_are_their_ids(current)
        with path.open("wb") as out:
            write_po(out, current, width=0, sort_by_file=True, include_previous=True)
        untranslated[catalog] = sum(
            1 for message in current if message.id and not _translated(message.string)
        )
    return untranslated


def _words_are_their_ids(catalog: Catalog) -> None:
    """The source language's catalog says each msgid as it is written."""
    for message in catalog:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")


def _translated(string: str | tuple[str, ...]) -> bool:
    if isinstance(string, tuple):
        return all(string)
    return bool(string)
