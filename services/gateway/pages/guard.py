"""The link guard: a page's link token checked (link_of) and its delivery read (delivery_for);
a list's token checked (list_link_of).

Also what every page's contract shares (``contracts.documented``): the ``delivery_id`` and
``t`` parameters, an HTML answer, and the refusals of the guard (403, 429).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from services.gateway.context import Gateway, gateway_of, is_party
from services.gateway.contracts import Reply, parameter, text
from services.gateway.pages.errors import PageError
from services.runtime.collections import DELIVERIES
from services.runtime.links import Link, LinkError, admin_path, page_path, read_link
from services.runtime.list_links import ListLink, me_path, read_list_link
from shared.clocks import CLOCK_LEEWAY
from shared.config import Settings
from shared.wording import ROLE_NAMES, duration, when
from shared.wording.reader import N_, Words, _, lazy_gettext, ngettext


def html_answer(description: str, headers: Mapping[str, dict[str, Any]] | None = None) -> Reply:
    """A page's documented answer: a ``text/html`` body described by ``description``."""
    return text("text/html", description, headers=headers)


def optional_query(name: str, description: str) -> dict[str, Any]:
    """An optional query parameter of a page (an OpenAPI parameter object, a string)."""
    return parameter(name, "query", description, required=False)


#: The path parameter of every delivery's page.
DELIVERY_ID = parameter("delivery_id", "path", "the delivery")
#: The link token of every page (``services.runtime.links``).
LINK_TOKEN = parameter("t", "query", "the signed link token from an email")
#: What :func:`link_of` and :func:`delivery_for` refuse, as every page answers it.
LINK_REFUSALS = {
    403: html_answer(
        "the link is changed, expired, not valid yet, for another delivery or party, or for "
        "another kind of page (the answer links to the page it opens)"
    ),
    429: html_answer("too many requests from this link; see Retry-After"),
}

_NEW_LINK_HINT = lazy_gettext(
    "Open the most recent email about this delivery and follow its link: every email carries "
    "a fresh one."
)


_LIST_HINT = lazy_gettext(
    "Every email carries two links: one to the delivery's page and one to all your "
    "deliveries. Open the most recent email and follow the one you need."
)


#: The pages a link may be followed to, as a refusal names them ("This link opens …, not
#: <here>."): a delivery's page, a party's list (``/me``), the administrators' pages.
PAGE, LIST, ADMIN = "page", "list", "admin"
_HERE: Mapping[str, str] = Words(
    {
        PAGE: N_("a delivery's page"),
        LIST: N_("a list of deliveries"),
        ADMIN: N_("the administrators' pages"),
    }
)


def _where_it_leads(opens: Link | ListLink, token: str) -> tuple[str, str, str]:
    """What a valid link of another kind opens, in words, and where it leads: (what, the
    path with its token, the words of the link there)."""
    if isinstance(opens, ListLink):
        return _("a list of your deliveries"), me_path(token), _("Open your list of deliveries")
    if opens.is_admin:
        return (
            _("the administrators' pages"),
            admin_path(token),
            _("Open the administrators' list"),
        )
    return (
        _("one delivery's page"),
        page_path(opens.delivery_id, token),
        _("Open that delivery's page"),
    )


def _elsewhere(opens: Link | ListLink, token: str, here: str) -> PageError:
    """A valid link followed to a page of another kind: a 403 naming what the link opens
    and what it was followed to (:data:`_HERE`), with a link to where it leads."""
    what, href, words = _where_it_leads(opens, token)
    admin = isinstance(opens, Link) and opens.is_admin
    return PageError(
        403,
        _("This link opens another page"),
        _("This link opens {what}, not {here}.").format(what=what, here=_HERE[here]),
        hint=None if admin else str(_LIST_HINT),
        elsewhere={"href": href, "words": words},
    )


def _refused(error: LinkError, settings: Settings, token: str, here: str) -> PageError:
    """A link token that is not accepted, as the page answers it: expired (when and for how
    long links are valid), signed ahead of this server's clock, for a page of another kind
    than ``here`` (:data:`PAGE`, :data:`LIST`, :data:`ADMIN`), or not valid at all."""
    if error.kind == "expired":
        valid = duration(settings.link_ttl)
        message = (
            _("This link expired on {at}. Links are valid for {valid}.").format(
                at=when(error.expired_at), valid=valid
            )
            if error.expired_at
            else _("This link expired. Links are valid for {valid}.").format(valid=valid)
        )
        return PageError(403, _("This link has expired"), message, hint=str(_NEW_LINK_HINT))
    if error.kind == "not_yet_valid" and error.signed_at is not None:
        now = datetime.now(UTC)
        message = _(
            "This link says it was made on {signed}, {ahead} ahead of this server's clock "
            "({now}); a link is accepted at most {leeway} early. It was not made by this "
            "Delivery Center, or one of the two clocks is wrong."
        ).format(
            signed=when(error.signed_at),
            ahead=duration(error.signed_at - now),
            now=when(now),
            leeway=duration(CLOCK_LEEWAY),
        )
        return PageError(403, _("This link is not valid yet"), message, hint=str(_NEW_LINK_HINT))
    if error.kind == "other_page" and error.opens is not None:
        return _elsewhere(error.opens, token, here)
    return PageError(
        403,
        _("This link is not valid"),
        _(
            "This link is not valid: it was changed or cut short (for example when it was "
            "copied), or it was not made by Delivery Center."
        ),
        hint=str(_NEW_LINK_HINT),
    )


def _within_rate(request: web.Request, role: str, party_id: str) -> None:
    """429 when the link's party has made too many requests (the API's limiter, per party)."""
    wait = gateway_of(request).limiter.take((role, party_id))
    if wait:
        raise PageError(
            429,
            _("Too many requests"),
            ngettext(
                "Too many requests from this link; wait {count} second and try again.",
                "Too many requests from this link; wait {count} seconds and try again.",
                wait,
            ).format(count=wait),
            retry_after=wait,
        )


def link_of(request: web.Request, token: str, delivery_id: str | None) -> Link:
    """The link behind ``token``, valid for ``delivery_id`` (None: the admin pages); else 403
    (a list's token too: it opens no delivery's page, nor the admin pages; nor does a party's
    page link open the admin pages: each refusal says what the link opens and links there),
    429 over the party's rate."""
    settings = gateway_of(request).settings
    here = ADMIN if delivery_id is None else PAGE
    try:
        link = read_link(settings, token)
    except LinkError as error:
        raise _refused(error, settings, token, here) from error
    if delivery_id is None:
        if not link.is_admin:
            raise _elsewhere(link, token, here)
    elif not link.opens(delivery_id):
        raise PageError(
            403,
            _("This link is for another delivery"),
            _("This link opens another delivery's page, not this one."),
            hint=str(_NEW_LINK_HINT),
        )
    _within_rate(request, link.role.value, link.party_id)
    return link


def list_link_of(request: web.Request, token: str) -> ListLink:
    """The list link behind ``token`` (``list_links.read_list_link``); else 403 (a delivery page's
    token too, an admin's included: it opens no list; the refusal says what it opens and links
    there, a delivery's page or ``/admin``), 429 over the party's rate."""
    settings = gateway_of(request).settings
    try:
        link = read_list_link(settings, token)
    except LinkError as error:
        raise _refused(error, settings, token, LIST) from error
    _within_rate(request, link.role.value, link.party_id)
    return link


async def delivery_for(gateway: Gateway, link: Link, delivery_id: str) -> dict[str, Any]:
    """The stored delivery ``delivery_id`` (without its outbox), if the link's party is one of
    its parties or an admin (``context.is_party``).

    Raises:
      PageError: 404 when there is no such delivery (yet), 403 when the link's party is not
        one of its parties.
    """
    document = await gateway.db[DELIVERIES].find_one({"_id": delivery_id}, {"outbox": 0})
    if document is None:
        raise PageError(
            404,
            _("No such delivery"),
            _(
                "There is no delivery {delivery} (yet): if it was opened just now, "
                "reload this page in a moment."
            ).format(delivery=delivery_id),
        )
    if not is_party(link.actor, document):
        raise PageError(
            403,
            _("This link is not for this delivery"),
            _("This link was made for {role} {party}, who is not a party of this delivery.").format(
                role=ROLE_NAMES[link.role], party=link.party_id
            ),
            hint=str(_NEW_LINK_HINT),
        )
    return document
