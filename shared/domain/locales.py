"""Which languages and time zones a party may read Delivery Center in: the rules of the
``*_locale`` and ``*_time_zone`` fields, and of ``DC_DEFAULT_LOCALE``/``DC_ADMIN_LOCALE``.

Pure data, made once at import from two published databases, not from hand-made lists:

- **Locales** are BCP 47 tags (RFC 5646) that Babel parses (CLDR's locale data) into a
  language we have a translation catalog for (:data:`CATALOGS`, the catalog folders under
  ``shared/wording/locales/``): English in any region
  (``en``, ``en-GB``, ``en-001``...) and Chinese in Simplified script (``zh``, ``zh-CN``,
  ``zh-Hans``, ``zh-Hans-SG``...). A tag is written as CLDR spells it (``zh-CN``, not
  ``zh-cn``): one spelling per locale keeps the published enum exact; the refusal names the
  accepted spelling when only the case differs.
- **Time zones** are IANA names (``Asia/Shanghai``) from the ``tzdata`` package's zone list
  (its version is pinned, so the published enum is the same on every machine), loaded with
  the standard library's ``zoneinfo``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.localedata import locale_identifiers
from pydantic import AfterValidator, WithJsonSchema

from shared.validation_errors import quoted

#: Where the catalogs are: one folder per language, named by its Babel identifier.
CATALOG_FOLDERS = files("shared").joinpath("wording", "locales")


def _catalog_key(locale: Locale) -> tuple[str, str | None]:
    """The (language, script) a catalog serves; Chinese without a script is Simplified
    (CLDR's likely subtags: ``zh`` is ``zh_Hans_CN``)."""
    if locale.language == "zh":
        return ("zh", locale.script or "Hans")
    return (locale.language, locale.script)


def _catalogs() -> dict[tuple[str, str | None], str]:
    """Every catalog folder with a ``messages.po`` (``shared/wording/locales/zh_Hans/
    LC_MESSAGES/messages.po``), by the (language, script) it serves: adding a language is
    adding its catalog (README, "Adding a language")."""
    found = {}
    for folder in CATALOG_FOLDERS.iterdir():
        if folder.joinpath("LC_MESSAGES", "messages.po").is_file():
            found[_catalog_key(Locale.parse(folder.name))] = folder.name
    return dict(sorted(found.items(), key=lambda item: item[1]))


#: The catalogs we ship, by (language, script) of the locales they serve, as the Babel
#: identifier of their folder. A locale of another language or script (``fr``, ``zh-TW`` in
#: Traditional script) has no catalog, so it is refused.
CATALOGS: dict[tuple[str, str | None], str] = _catalogs()
#: The languages of the catalogs as people name them in English, for refusals:
#: "English (en), Chinese (Simplified) (zh-Hans)".
LANGUAGE_NAMES = ", ".join(
    f"{Locale.parse(folder).english_name} ({folder.replace('_', '-')})"
    for folder in CATALOGS.values()
)


def _parsed(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def _tags() -> tuple[str, ...]:
    """Every BCP 47 tag we accept: CLDR's identifiers of a catalog's languages (``en_GB`` as
    ``en-GB``), and the short region form where CLDR infers the script (``zh-CN``)."""
    tags = set()
    for identifier in locale_identifiers():
        locale = Locale.parse(identifier)
        if _catalog_key(locale) not in CATALOGS:
            continue
        tags.add(identifier.replace("_", "-"))
        if locale.script and locale.territory:
            short = f"{locale.language}-{locale.territory}"
            parsed = _parsed(short)
            if parsed is not None and _catalog_key(parsed) == _catalog_key(locale):
                tags.add(short)
    return tuple(sorted(tags))


#: The accepted spelling of every locale tag, sorted.
LOCALE_TAGS: tuple[str, ...] = _tags()
_BY_FOLDED = {tag.casefold(): tag for tag in LOCALE_TAGS}

#: Every IANA time zone name we accept, sorted (the pinned ``tzdata`` package's ``zones``).
TIME_ZONES: tuple[str, ...] = tuple(
    sorted(files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())
)
_TIME_ZONE_SET = frozenset(TIME_ZONES)
_ZONES_BY_FOLDED = {zone.casefold(): zone for zone in TIME_ZONES}

#: The installation's defaults when nothing else is known (``DC_DEFAULT_LOCALE``,
#: ``DC_DEFAULT_TIME_ZONE`` override them).
DEFAULT_LOCALE = "en"
DEFAULT_TIME_ZONE = "UTC"


def locale_tag(value: str) -> str:
    """``value`` if it is an accepted locale tag (:data:`LOCALE_TAGS`).

    Raises:
      ValueError: Not a tag Babel knows, a language without a catalog, or the right tag
        spelled otherwise (another case, or POSIX's ``_`` for BCP 47's ``-``); the message
        says which and what to send instead.
    """
    if value in LOCALE_TAGS:
        return value
    spelled = _BY_FOLDED.get(value.replace("_", "-").casefold())
    if spelled is not None:
        raise ValueError(f"write the locale {quoted(value)} as {spelled!r}")
    parsed = _parsed(value)
    if parsed is None:
        raise ValueError(
            f"{quoted(value)} is not a BCP 47 locale tag that CLDR knows (for example en, zh-CN)"
        )
    raise ValueError(
        f"there is no translation for the locale {quoted(value)}; "
        f"the languages are {LANGUAGE_NAMES}"
    )


def time_zone(value: str) -> str:
    """``value`` if it is an IANA time zone name (:data:`TIME_ZONES`).

    Raises:
      ValueError: Any other text; the message gives the right case when only that differs.
    """
    if value in _TIME_ZONE_SET:
        return value
    spelled = _ZONES_BY_FOLDED.get(value.casefold())
    if spelled is not None:
        raise ValueError(f"write the time zone {quoted(value)} as {spelled!r}")
    raise ValueError(
        f"{quoted(value)} is not an IANA time zone name "
        "(for example UTC, Asia/Shanghai, Europe/Berlin)"
    )


@cache
def babel_locale(tag: str) -> Locale:
    """The Babel locale of an accepted tag (formats dates, numbers and zone names)."""
    return Locale.parse(locale_tag(tag), sep="-")


def catalog_of(tag: str) -> str:
    """The catalog folder (:data:`CATALOGS`) that serves an accepted tag: ``zh-CN`` ->
    ``zh_Hans``."""
    return CATALOGS[_catalog_key(babel_locale(tag))]


@cache
def zone_info(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an accepted time zone name."""
    return ZoneInfo(time_zone(name))


#: A locale field: an accepted tag, and its JSON Schema an enum of them.
LocaleTag = Annotated[
    str,
    AfterValidator(locale_tag),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(LOCALE_TAGS),
            "description": f"A BCP 47 locale tag of a language with a catalog ({LANGUAGE_NAMES}), "
            "as CLDR spells it (en, en-GB, zh-CN, zh-Hans).",
        }
    ),
]
#: A time-zone field: an IANA name, and its JSON Schema an enum of them.
TimeZoneName = Annotated[
    str,
    AfterValidator(time_zone),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(TIME_ZONES),
            "description": "An IANA time zone name (UTC, Asia/Shanghai, Europe/Berlin).",
        }
    ),
]
