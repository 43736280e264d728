"""Who reads the words: their language and time zone, and the translation catalogs.

Every word in :mod:`shared.wording` and in the services' templates is an English gettext
message (a *msgid*), translated when it is read, for the current :class:`Reader`. The reader
is set around one rendering (an email for one recipient, one page for one viewer) with
:func:`reading`; it lives in a context variable, so concurrent renderings (aiohttp's tasks,
the notifier's threads) each read in their own reader. Without one, words are English and
times UTC.

The catalogs are GNU gettext ``.po`` files under ``shared/wording/locales/<catalog>/
LC_MESSAGES/messages.po`` (one per :data:`shared.domain.locales.CATALOGS` entry), managed
with Babel's ``pybabel extract/update/compile`` (README, "Adding a language"). They are read
and compiled in memory once per process, so a ``.po`` edited by a translator is what runs.

Marking, for ``pybabel extract`` (:data:`KEYWORDS`):

- ``_("...")`` translates now, for the current reader;
- ``N_("...")`` marks a table's msgid; the table (:class:`Words`) translates on reading;
- ``lazy_gettext("...")`` is a module constant that translates each time it is used as text;
- ``ngettext("{count} day", "{count} days", n)`` picks the plural form the language's
  ``Plural-Forms`` rule gives for ``n`` (English has two, Chinese one); ``plural(...)``
  marks such a pair kept in a table, and ``counted(n, "{count} ISV", "{count} ISVs")``
  (``shared.wording.moments``) says a count with one.
"""

from __future__ import annotations

import dataclasses
import gettext as gettext_module
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, Translations

from shared.domain.locales import (
    CATALOG_FOLDERS,
    DEFAULT_LOCALE,
    DEFAULT_TIME_ZONE,
    babel_locale,
    catalog_of,
    zone_info,
)

#: ``pybabel extract``'s keywords beyond its defaults (``_``, ``N_``, ``ngettext``...), in
#: its ``-k`` syntax: the function, and which arguments are the singular and plural msgids.
KEYWORDS = ("lazy_gettext", "plural:1,2", "counted:2,3")
#: The gettext domain of every catalog.
DOMAIN = "messages"
#: Where the catalogs are, as a package resource.
LOCALES = CATALOG_FOLDERS


def catalog_path(catalog: str) -> Any:
    """The ``.po`` file of a catalog folder (``zh_Hans``), as a package resource."""
    return LOCALES.joinpath(catalog, "LC_MESSAGES", f"{DOMAIN}.po")


@cache
def translations(catalog: str) -> gettext_module.NullTranslations:
    """A catalog's translations, compiled in memory from its ``.po`` (fuzzy entries are left
    out, as ``pybabel compile`` leaves them). Raises FileNotFoundError without the file."""
    with catalog_path(catalog).open("rb") as po:
        parsed = read_po(po, locale=catalog)
    compiled = BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@dataclass(frozen=True)
class Reader:
    """One reader of words: ``locale`` an accepted BCP 47 tag, ``time_zone`` an IANA name
    (``shared.domain.locales``), and the ``catalog`` their words come from (None: the
    locale's own; a test may give another, such as a pseudo-locale)."""

    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE
    catalog: gettext_module.NullTranslations | None = None

    @property
    def babel(self) -> Locale:
        """The Babel locale that formats dates, numbers and zone names."""
        return babel_locale(self.locale)

    @property
    def zone(self) -> ZoneInfo:
        """The time zone that times are shown in."""
        return zone_info(self.time_zone)

    @property
    def translations(self) -> gettext_module.NullTranslations:
        """The catalog the words come from."""
        return self.catalog if self.catalog is not None else translations(catalog_of(self.locale))

    @property
    def html_lang(self) -> str:
        """The value of HTML's ``lang`` attribute (a BCP 47 tag)."""
        return self.locale


_READER: ContextVar[Reader] = ContextVar("reader", default=Reader())  # noqa: B039 (frozen)


def reader() -> Reader:
    """The current reader (English, UTC when none was set)."""
    return _READER.get()


@contextmanager
def reading(
    locale: str | None = None,
    time_zone: str | None = None,
    *,
    catalog: gettext_module.NullTranslations | None = None,
) -> Iterator[Reader]:
    """Read every word inside the block as ``locale`` in ``time_zone`` (None: English, UTC).

    Raises ValueError for a locale or zone ``shared.domain.locales`` does not accept."""
    chosen = Reader(locale or DEFAULT_LOCALE, time_zone or DEFAULT_TIME_ZONE, catalog)
    chosen.babel, chosen.zone  # noqa: B018 (refuse a bad locale or zone here, not mid-page)
    token = _READER.set(chosen)
    try:
        yield chosen
    finally:
        _READER.reset(token)


def _(message: str) -> str:
    """``message`` (an English msgid) in the current reader's language."""
    return reader().translations.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of ``singular``/``plural`` that ``count`` takes in the reader's language."""
    return reader().translations.ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional name for a no-op mark)
    """Mark ``message`` for extraction only; a :class:`Words` table translates it."""
    return message


def plural(singular: str, plural_: str) -> tuple[str, str]:
    """Mark a pair of msgids for :func:`ngettext` (``counted``'s units) for extraction only."""
    return singular, plural_


def lazy_gettext(message: str) -> LazyProxy:
    """A constant that is ``message`` translated each time it is used as text."""
    return LazyProxy(_, message, enable_cache=False)


T = TypeVar("T")


def translated(value: T) -> T:
    """``value`` read in the current language: a msgid translated; each text field of a
    named tuple or a frozen dataclass translated; anything else unchanged."""
    if isinstance(value, str):
        return _(value)  # type: ignore[return-value]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(translated(item) for item in value))  # type: ignore[return-value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: translated(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **fields)  # type: ignore[return-value]
    return value


K = TypeVar("K")
V = TypeVar("V")


class Words(Mapping[K, V]):
    """A table of msgids (marked ``N_``), read in the current language on every lookup."""

    def __init__(self, table: Mapping[K, V]) -> None:
        self.msgids: Mapping[K, V] = dict(table)

    def __getitem__(self, key: K) -> V:
        return translated(self.msgids[key])

    def __iter__(self) -> Iterator[K]:
        return iter(self.msgids)

    def __len__(self) -> int:
        return len(self.msgids)
