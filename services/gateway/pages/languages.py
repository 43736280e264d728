"""Which language and time zone a page is read in, and the language switch on every page.

The reader of a page (``shared.wording.reader``) is chosen per request:

- a delivery's page opened by a party's link: that party's ``customer_locale`` /
  ``isv_locale`` and ``*_time_zone`` stored on the delivery, else the installation's
  defaults (``DC_DEFAULT_LOCALE``, ``DC_DEFAULT_TIME_ZONE``); the browser's language cookie
  (:data:`COOKIE`) wins over the stored locale, never over the zone;
- the administrators' pages (``/admin``, the scorecards, a delivery's page opened by an
  admin's link): the cookie, else the browser's ``Accept-Language`` (:func:`negotiate`), else
  ``DC_ADMIN_LOCALE``, else the default; their zone ``DC_ADMIN_TIME_ZONE``, else the default;
- a party's list (``/me``): as the party's page of its most recently changed delivery on the
  list (:func:`list_reader`);
- any other page: the cookie, else ``Accept-Language``, else the default locale, in the
  default zone;
- an error page: the reader of the page it stands for when that is known
  (:func:`reading_page`), else as the line above.

The switch (:func:`language_links`) is a pair of plain links to the page's own address with
``lang=<tag>`` added; :func:`switch_language` answers such a request by setting the cookie and
sending the browser (303) to the same address without ``lang``. No script is involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

from aiohttp import web
from babel import Locale, UnknownLocaleError
from babel.lists import format_list
from yarl import URL

from shared.config import Settings
from shared.domain.locales import (
    CATALOGS,
    LOCALE_TAGS,
    catalog_of,
    locale_tag,
    time_zone,
)
from shared.wording.reader import Reader, reader, reading

#: The cookie that keeps the language a browser chose with the switch.
COOKIE = "dc_locale"
#: How long the browser keeps it: a year, in seconds.
COOKIE_MAX_AGE = 365 * 24 * 3600
#: The query parameter of the switch's links.
SWITCH_PARAMETER = "lang"
#: The languages the switch offers, as the tag its link sends: one per catalog, named as its
#: folder is (``zh_Hans`` -> ``zh-Hans``), so a new catalog is offered without a change here.
SWITCH_TAGS = tuple(folder.replace("_", "-") for folder in CATALOGS.values())

_BY_FOLDED = {tag.casefold(): tag for tag in LOCALE_TAGS}

#: The address the page's switch links to (its own, for a GET; the delivery's page after a
#: press); None: no switch (a refusal of a POST, a page rendered outside a request).
_SWITCH_BASE: ContextVar[URL | None] = ContextVar("switch_base", default=None)


@cache
def language_name(tag: str) -> str:
    """A language's name in that language (CLDR's), as the switch shows it: "English",
    "中文 (简体)". Not translated: each name is read by those who read that language."""
    locale = Locale.parse(tag, sep="-")
    if locale.language == "zh":  # the script is what tells the catalogs apart, not the region
        locale = Locale.parse("zh-Hans", sep="-")
    return str(locale.display_name)


def _accepted(tag: str) -> str | None:
    """The accepted spelling of ``tag`` (any case), or None."""
    return _BY_FOLDED.get(tag.casefold())


def _supported(tag: str) -> bool | None:
    """Whether Babel reads ``tag`` as a language and script we have a catalog for (``zh-TW``
    is Traditional Chinese: no); None when Babel does not know the tag."""
    try:
        locale = Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    script = locale.script or ("Hans" if locale.language == "zh" else None)
    return (locale.language, script) in CATALOGS


def match_tag(tag: str) -> str | None:
    """One language range of ``Accept-Language`` as an accepted locale tag
    (``shared.domain.locales.LOCALE_TAGS``), or None.

    The tag itself in any case (``zh-cn`` -> ``zh-CN``); else, when it is of a language and
    script we have (``en-ZA``, ``zh-Hans-XX``), its longest accepted prefix (RFC 4647's
    lookup: ``en-ZZ`` -> ``en``). A tag of another script is not ours whatever its prefix:
    ``zh-TW`` and ``zh-Hant`` are Traditional Chinese, not ``zh``."""
    tag = tag.strip()
    if not tag or tag == "*":
        return None
    exact = _accepted(tag)
    if exact is not None:
        return exact
    subtags = tag.split("-")
    if _supported(tag) is False:
        return None
    scripts = [s for s in subtags[1:] if len(s) == 4 and s.isalpha()]
    if scripts and (subtags[0].lower(), scripts[0].title()) not in CATALOGS:
        return None
    if subtags[0].lower() == "zh" and not scripts and _supported(tag) is None:
        # A Chinese region Babel does not know: its script is unknown, so it is not ours.
        return None
    for end in range(len(subtags) - 1, 0, -1):
        found = _accepted("-".join(subtags[:end]))
        if found is not None:
            return found
    return None


def negotiate(header: str | None) -> str | None:
    """The locale an ``Accept-Language`` header (RFC 9110 section 12.5.4) asks for among
    ours: its language ranges by weight (``q``, 1 by default; ties keep their order; ``q=0``
    refuses), the first that :func:`match_tag` accepts. None when none does, for ``*``, an
    empty header or none: the caller's default applies.

    >>> negotiate("fr, zh-CN;q=0.8, en;q=0.5")
    'zh-CN'
    """
    if not header:
        return None
    ranges: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, *parameters = part.split(";")
        weight = 1.0
        for parameter in parameters:
            name, _eq, value = parameter.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if weight > 0 and tag.strip():
            ranges.append((-min(weight, 1.0), index, tag.strip()))
    for _weight, _index, tag in sorted(ranges):
        if tag == "*":
            return None
        found = match_tag(tag)
        if found is not None:
            return found
    return None


def cookie_locale(request: web.Request) -> str | None:
    """The locale the browser chose with the switch (:data:`COOKIE`), if it is one we accept."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    try:
        return locale_tag(value)
    except ValueError:
        return None


def browser_locale(request: web.Request) -> str | None:
    """The cookie's locale, else the one ``Accept-Language`` asks for, else None."""
    return cookie_locale(request) or negotiate(request.headers.get("Accept-Language"))


def request_reader(request: web.Request, settings: Settings) -> tuple[str, str]:
    """(locale, zone) of a page that knows no more than its request: a list, an error."""
    return settings.reader_locale(browser_locale(request)), settings.reader_time_zone(None)


def admin_reader(request: web.Request, settings: Settings) -> tuple[str, str]:
    """(locale, zone) of an administrators' page: the browser's, else ``DC_ADMIN_LOCALE``,
    else the default; ``DC_ADMIN_TIME_ZONE``, else the default zone."""
    return browser_locale(request) or settings.admin_reader_locale, settings.admin_reader_time_zone


def party_reader(
    request: web.Request, settings: Settings, role: str, document: Mapping[str, Any]
) -> tuple[str, str]:
    """(locale, zone) of a delivery's page for the link's ``role``: the customer's or the
    ISV's stored locale and zone (the cookie's locale first), an admin's :func:`admin_reader`.
    A stored value we no longer accept falls back to the default."""
    if role not in ("customer", "isv"):
        return admin_reader(request, settings)
    stored_locale = document.get(f"{role}_locale")
    stored_zone = document.get(f"{role}_time_zone")
    locale = cookie_locale(request) or _checked(stored_locale, locale_tag)
    return settings.reader_locale(locale), settings.reader_time_zone(
        _checked(stored_zone, time_zone)
    )


def list_reader(
    request: web.Request, settings: Settings, role: str, documents: Iterable[Mapping[str, Any]]
) -> tuple[str, str]:
    """(locale, zone) of a party's own list (``/me``, opened by the list link of an email):
    the party's, as :func:`party_reader` reads it on the most recently changed of the
    ``documents`` (the deliveries the page read: its rows and those waiting for the party),
    so the list reads as that delivery's page and emails do; with none of them, the
    request's (:func:`request_reader`)."""
    latest = max(documents, key=lambda document: document["updated_at"], default=None)
    if latest is None:
        return request_reader(request, settings)
    return party_reader(request, settings, role, latest)


def _checked(value: Any, check: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return check(value)
    except ValueError:
        return None


@contextmanager
def reading_page(locale: str, zone: str) -> Iterator[Reader]:
    """Read the page in ``locale`` and ``zone``; a refusal raised inside is answered in them
    too (its error page stands for this page)."""
    from services.gateway.pages.errors import PageError

    with reading(locale, zone) as chosen:
        try:
            yield chosen
        except PageError as error:
            error.reader = chosen
            raise


@contextmanager
def switch_base(url: URL | str | None) -> Iterator[None]:
    """Inside: the page's language switch links to ``url`` (None: no switch)."""
    token = _SWITCH_BASE.set(URL(url) if isinstance(url, str) else url)
    try:
        yield
    finally:
        _SWITCH_BASE.reset(token)


def switch_languages() -> str:
    """The switch's languages, each by its own name and tag, as a list in the reader's
    language (CLDR's list patterns): "English (en) or 中文 (简体) (zh-Hans)"."""
    names = [f"{language_name(tag)} ({tag})" for tag in SWITCH_TAGS]
    return format_list(names, style="or", locale=reader().babel)


def without_switch(url: URL) -> URL:
    """``url`` without the switch's parameter, every other one kept in its order."""
    kept = [(k, v) for k, v in url.query.items() if k != SWITCH_PARAMETER]
    return url.with_query(kept)


def language_links() -> list[dict[str, Any]]:
    """The switch's links (the template's ``language_links()``): per language its tag, own
    name, the page's address with ``lang=<tag>`` and whether it is the one being read; none
    when the page has no address to link to."""
    base = _SWITCH_BASE.get()
    if base is None:
        return []
    current = _catalog(reader().locale)
    links = []
    for tag in SWITCH_TAGS:
        query = [*without_switch(base).query.items(), (SWITCH_PARAMETER, tag)]
        links.append(
            {
                "tag": tag,
                "name": language_name(tag),
                "href": str(base.with_query(query)),
                "current": _catalog(tag) == current,
            }
        )
    return links


def _catalog(tag: str) -> str | None:
    try:
        return catalog_of(tag)
    except (ValueError, KeyError):
        return None


def chosen_language(request: web.Request) -> str | None:
    """The language a switch link asks for (``?lang=``), checked.

    Returns None without one. Raises ValueError for a ``lang`` that is not a locale tag we
    accept: the page refuses it (400) rather than ignoring it, so a mistyped link is seen."""
    values = request.query.getall(SWITCH_PARAMETER, [])
    if not values:
        return None
    if len(values) > 1:
        raise ValueError("given twice")
    return locale_tag(values[0])


def switched(request: web.Request, tag: str, headers: Mapping[str, str]) -> web.HTTPSeeOther:
    """The answer to a switch link: 303 to the same address without ``lang``, setting
    :data:`COOKIE` to ``tag`` for a year (``Path=/``, ``SameSite=Lax``, ``HttpOnly``; ``Secure``
    over HTTPS)."""
    answer = web.HTTPSeeOther(str(without_switch(request.rel_url)), headers=dict(headers))
    answer.set_cookie(
        COOKIE,
        tag,
        max_age=COOKIE_MAX_AGE,
        path="/",
        samesite="Lax",
        httponly=True,
        secure=request.secure,
    )
    return answer
