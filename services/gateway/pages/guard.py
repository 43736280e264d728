"""The link guard: a page's link token checked (link_of) and its delivery read (delivery_for);
a list's token checked (list_link_of).

Also what every page's contract shares (``contracts.documented``): the ``delivery_id`` and
``t`` parameters, an HTML answer, and the refusals of the guard (403, 429).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from services.gateway.context import Gateway, gateway_of, is_party
from services.gateway.contracts import Reply, parameter, text
from services.gateway.pages.errors import PageError
from services.runtime.collections import DELIVERIES
from services.runtime.links import Link, LinkError, ListLink, read_link, read_list_link
from shared.config import Settings
from shared.wording import ROLE_NAMES, duration, when


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
        "the link is changed, expired, for another delivery or party, or for another page"
    ),
    429: html_answer("too many requests from this link; see Retry-After"),
}

_NEW_LINK_HINT = (
    "Open the most recent email about this delivery and follow its link: every email carries "
    "a fresh one."
)


_LIST_HINT = (
    "Every email carries two links: one to the delivery's page and one to all your "
    "deliveries. Open the most recent email and follow the one you need."
)


def _refused(error: LinkError, settings: Settings, other_page: str) -> PageError:
    """A link token that is not accepted, as the page answers it: expired (when and for how
    long links are valid), for the other kind of page (``other_page`` says which), or not
    valid at all."""
    if error.kind == "expired":
        since = f" on {when(error.expired_at)}" if error.expired_at else ""
        valid = duration(settings.link_ttl)
        message = f"This link expired{since}. Links are valid for {valid}."
        return PageError(403, "This link has expired", message, hint=_NEW_LINK_HINT)
    if error.kind == "other_page":
        return PageError(403, "This link opens another page", other_page, hint=_LIST_HINT)
    return PageError(
        403,
        "This link is not valid",
        "This link is not valid: it was changed or cut short (for example when it was "
        "copied), or it was not made by Delivery Center.",
        hint=_NEW_LINK_HINT,
    )


def _within_rate(request: web.Request, role: str, party_id: str) -> None:
    """429 when the link's party has made too many requests (the API's limiter, per party)."""
    wait = gateway_of(request).limiter.take((role, party_id))
    if wait:
        raise PageError(
            429,
            "Too many requests",
            f"Too many requests from this link; wait {wait} seconds and try again.",
            retry_after=wait,
        )


def link_of(request: web.Request, token: str, delivery_id: str | None) -> Link:
    """The link behind ``token``, valid for ``delivery_id`` (None: the admin pages); else 403
    (a list's token too: it opens no delivery's page), 429 over the party's rate."""
    settings = gateway_of(request).settings
    try:
        link = read_link(settings, token)
    except LinkError as error:
        raise _refused(
            error,
            settings,
            "This link opens a list of your deliveries, not a delivery's page.",
        ) from error
    if delivery_id is None:
        if not link.is_admin:
            raise PageError(403, "Not for this link", "Only an administrator's link opens this.")
    elif not link.opens(delivery_id):
        raise PageError(
            403,
            "This link is for another delivery",
            "This link opens another delivery's page, not this one.",
            hint=_NEW_LINK_HINT,
        )
    _within_rate(request, link.role.value, link.party_id)
    return link


def list_link_of(request: web.Request, token: str) -> ListLink:
    """The list link behind ``token`` (``links.read_list_link``); else 403 (a delivery page's
    token too, an admin's included: it opens no list), 429 over the party's rate."""
    settings = gateway_of(request).settings
    try:
        link = read_list_link(settings, token)
    except LinkError as error:
        raise _refused(
            error,
            settings,
            "This link opens one delivery's page, not the list of your deliveries.",
        ) from error
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
            "No such delivery",
            f"There is no delivery {delivery_id} (yet): if it was opened just now, "
            "reload this page in a moment.",
        )
    if not is_party(link.actor, document):
        raise PageError(
            403,
            "This link is not for this delivery",
            f"This link was made for {ROLE_NAMES[link.role]} {link.party_id}, who is not "
            "a party of this delivery.",
            hint=_NEW_LINK_HINT,
        )
    return document
