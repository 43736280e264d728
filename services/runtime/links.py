"""Signed links: an email's one click opens a delivery's page as one party, for a while.

A link carries a token signed with ``DC_LINK_SECRET`` (itsdangerous, URL-safe, timestamped)
that names one delivery, one party and their role; it is valid for ``DC_LINK_TTL`` after it was
signed, and from up to ``shared.clocks.CLOCK_LEEWAY`` before (the signer's clock may run a
little fast, as a bearer token's issuer's may). An admin's link names no delivery (``*``) and
opens every page and ``/admin``.

A *list link* (``/me?t=``: ``services.runtime.list_links``) names no delivery but one party
and their role; the two never stand in for each other: a list token opens no delivery's page
(nor ``/admin``), and a page token (an admin's included) opens no list (:class:`LinkError`
``other_page``). An administrator's list is ``/admin``.

Following a link never changes anything (mail scanners follow links): a press on the page is a
POST that carries, besides the token, a CSRF token derived from it (the gateway's
``pages.csrf``).

The pages' paths are made here, one function each (:func:`page_path`, :func:`file_path`,
:func:`commands_path`, :func:`admin_path`, :func:`scorecards_path`,
:func:`scorecard_path`; a list's, ``list_links.me_path``). ``delivery-center link admin``,
``delivery-center link delivery <delivery_id> <party_id> <role> [action]`` and
``delivery-center link me <party_id> <role>`` print links (``services.ops.commands``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from shared.clocks import CLOCK_LEEWAY
from shared.config import Settings
from shared.domain.commands import PUBLIC_DELIVERY_COMMANDS
from shared.domain.ids import is_hex_id
from shared.domain.roles import ACTOR_ID_RULE, Actor, Role, is_actor_id

if TYPE_CHECKING:
    from services.runtime.list_links import ListLink

#: Separates these tokens from anything else ever signed with the same secret.
SALT = "delivery-center.link.v1"
#: The delivery an admin's link names: all of them.
ALL_DELIVERIES = "*"
ADMIN_PARTY = "admin"
#: Roles a link may carry: the people who get emails.
LINK_ROLES = frozenset({Role.CUSTOMER, Role.ISV, Role.ADMIN})
#: Where a delivery's page lives, under the public URL.
PAGE_PREFIX = "/d/"
#: Where the administrators' list lives, under the public URL.
ADMIN_PATH = "/admin"
#: Where the administrators' table of every ISV's scorecard lives, and one ISV's under it.
SCORECARDS_PATH = "/admin/scorecards"


@dataclass(frozen=True)
class Link:
    """What a valid link's token says."""

    delivery_id: str
    party_id: str
    role: Role
    signed_at: datetime

    @property
    def actor(self) -> Actor:
        """The party the link was signed for, as the actor of the commands its page sends."""
        return Actor(id=self.party_id, role=self.role)

    @property
    def is_admin(self) -> bool:
        """True for an admin's link, which opens every delivery's page and ``/admin``."""
        return self.role == Role.ADMIN

    def opens(self, delivery_id: str) -> bool:
        """This link may open ``delivery_id``'s page (its party is checked against the delivery
        separately)."""
        if self.is_admin:
            return self.delivery_id == ALL_DELIVERIES
        return self.delivery_id == delivery_id


class LinkError(Exception):
    """The token is not a valid link here; ``kind`` is ``malformed``, ``tampered``,
    ``expired`` (with ``expired_at``), ``not_yet_valid`` (signed further ahead of this
    server's clock than :data:`~shared.clocks.CLOCK_LEEWAY`, with ``signed_at``) or
    ``other_page`` (a list token where a page's is expected, or the other way round; ``opens``
    is the :class:`Link` or ``list_links.ListLink`` it is, so a refusal can say where it leads)."""

    def __init__(
        self,
        kind: str,
        message: str,
        expired_at: datetime | None = None,
        *,
        signed_at: datetime | None = None,
        opens: Link | ListLink | None = None,
    ):
        super().__init__(message)
        self.kind, self.message, self.expired_at = kind, message, expired_at
        self.signed_at, self.opens = signed_at, opens


def serializer(settings: Settings, signed_at: datetime | None = None) -> URLSafeTimedSerializer:
    """The signer of every link's token (``DC_LINK_SECRET``, :data:`SALT`), page or list.

    Returns:
      URLSafeTimedSerializer: Stamping now, or ``signed_at`` (whole seconds) if given.
    """
    if signed_at is None:
        return URLSafeTimedSerializer(settings.link_secret, salt=SALT)
    stamp = int(signed_at.timestamp())

    class _SignedAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(settings.link_secret, salt=SALT, signer=_SignedAt)


def _check(delivery_id: str, party_id: str, role: Role) -> None:
    if role not in LINK_ROLES:
        allowed = ", ".join(sorted(LINK_ROLES))
        raise ValueError(f"a link's role is one of {allowed}, not {role}")
    if role == Role.ADMIN:
        if delivery_id != ALL_DELIVERIES:
            raise ValueError("an admin link names every delivery ('*')")
    elif not is_hex_id(delivery_id):
        raise ValueError(f"not a delivery id: {delivery_id!r}")
    if not is_actor_id(party_id):  # a link's party: an actor's id (``roles.ActorId``)
        raise ValueError(f"a party id is {ACTOR_ID_RULE}")


def sign_link(
    settings: Settings,
    delivery_id: str,
    party_id: str,
    role: Role | str,
    *,
    signed_at: datetime | None = None,
) -> str:
    """The token of a link to ``delivery_id`` for ``party_id`` as ``role``.

    Parameters:
      settings(Settings): ``link_secret`` signs it.
      delivery_id(str): 32 lowercase hex digits, or ``"*"`` for an admin's link.
      party_id(str): The party's id (a token's ``sub``): ``roles.ACTOR_ID_RULE``.
      role(Role | str): ``customer``, ``isv`` or ``admin``.
      signed_at(datetime | None): Backdates the signature (tests of expiry), kept to whole
        seconds; by default it is now.

    Returns:
      str: An itsdangerous URL-safe timed token (base64url, safe in a query string).

    Raises:
      ValueError: For another role, a malformed id, or an admin link naming one delivery.
    """
    role = Role(role)
    _check(delivery_id, party_id, role)
    payload = {"d": delivery_id, "p": party_id, "r": role.value}
    return serializer(settings, signed_at).dumps(payload)


def sign_admin_link(settings: Settings, *, signed_at: datetime | None = None) -> str:
    """The token of an admin's link (every delivery, party ``"admin"``); see :func:`sign_link`."""
    return sign_link(settings, ALL_DELIVERIES, ADMIN_PARTY, Role.ADMIN, signed_at=signed_at)


def verified(settings: Settings, token: str, now: datetime | None) -> tuple[Any, datetime]:
    """The payload and signing time of ``token``, checked against the secret, the clock (at
    most ``CLOCK_LEEWAY`` ahead of ``now``, as bearer tokens' ``iat``) and the TTL.

    Returns:
      tuple[Any, datetime]: The payload as signed (page or list) and its signing time (UTC).

    Raises:
      LinkError: ``malformed``, ``tampered``, ``not_yet_valid`` or ``expired``.
    """
    if not token:
        raise LinkError("malformed", "the link has no token")
    if len(token) > 2000:
        raise LinkError("malformed", "the link's token is far too long")
    try:
        # Without max_age: itsdangerous calls a signature from the future "expired".
        payload, stamp = serializer(settings).loads(token, return_timestamp=True)
    except BadData as error:
        raise LinkError("tampered", "the link has been changed or was not signed here") from error
    signed_at = stamp.astimezone(UTC)
    now = now or datetime.now(UTC)
    if signed_at - now > CLOCK_LEEWAY:
        raise LinkError(
            "not_yet_valid",
            "the link was signed ahead of this server's clock",
            signed_at=signed_at,
        )
    lifetime = timedelta(seconds=int(settings.link_ttl.total_seconds()))
    if now - signed_at > lifetime:
        raise LinkError("expired", "the link has expired", signed_at + lifetime)
    return payload, signed_at


def page_link_of(payload: Any, signed_at: datetime) -> Link:
    """The :class:`Link` a verified page payload names.

    Raises:
      LinkError: ``malformed`` if it names no valid delivery, party and role.
    """
    try:
        delivery_id, party_id, role = payload["d"], payload["p"], Role(payload["r"])
        _check(delivery_id, party_id, role)
    except (KeyError, TypeError, ValueError) as error:
        raise LinkError("malformed", "the link's token does not name a delivery") from error
    return Link(delivery_id, party_id, role, signed_at)


def read_link(settings: Settings, token: str, *, now: datetime | None = None) -> Link:
    """The link ``token`` stands for, checked against ``DC_LINK_SECRET`` and ``DC_LINK_TTL``.

    Parameters:
      settings(Settings): ``link_secret`` and ``link_ttl`` (a timedelta, whole seconds used).
      token(str): As made by :func:`sign_link`; at most 2,000 characters.
      now(datetime | None): The clock to check it by (aware); default the current time.

    Returns:
      Link: Its delivery, party, role and signing time (aware UTC).

    Raises:
      LinkError: ``expired`` if older than ``link_ttl`` (with ``expired_at``),
        ``not_yet_valid`` if signed more than ``CLOCK_LEEWAY`` after ``now`` (with
        ``signed_at``), ``tampered`` if the signature does not match, ``other_page`` for a
        list token (``list_links.sign_list_link``; ``opens`` is its ``ListLink``),
        ``malformed`` if empty, too long or not a link.
    """
    # Here, not at the top: list_links builds on this module (its signer and checks).
    from services.runtime.list_links import is_list_payload, list_link_of

    payload, signed_at = verified(settings, token, now)
    if is_list_payload(payload):
        raise LinkError(
            "other_page",
            "the link opens a list of deliveries, not a delivery's page",
            opens=list_link_of(payload, signed_at),
        )
    return page_link_of(payload, signed_at)


def public_base(settings: Settings) -> str:
    """``DC_PUBLIC_URL`` without its trailing ``/``: the links' absolute URLs start with it."""
    return settings.public_url.rstrip("/")


def page_path(delivery_id: str, token: str, action: str | None = None, **query: str) -> str:
    """The path (and query) of a delivery's page for a link token, relative to the site.

    Parameters:
      delivery_id(str): The delivery; percent-encoded into the path.
      token(str): A link token, the query's ``t``.
      action(str | None): A command type: added as ``action`` and as the ``#act-<action>``
        fragment, so the page opens with that form.
      **query(str): More query parameters.

    Returns:
      str: ``/d/<delivery_id>?t=...[&action=...][#act-...]``.
    """
    params = {"t": token}
    if action is not None:
        params["action"] = action
    params.update(query)
    fragment = f"#act-{action}" if action is not None else ""
    return f"{PAGE_PREFIX}{quote(delivery_id, safe='')}?{urlencode(params)}{fragment}"


def file_path(delivery_id: str, attachment_id: str, token: str) -> str:
    """The path of a delivery's file as its page links it: ``/d/<id>/files/<attachment_id>?t=``."""
    ids = f"{quote(delivery_id, safe='')}/files/{quote(attachment_id, safe='')}"
    return f"{PAGE_PREFIX}{ids}?{urlencode({'t': token})}"


def commands_path(delivery_id: str) -> str:
    """Where a page's forms are sent: ``/d/<delivery_id>/commands``."""
    return f"{PAGE_PREFIX}{quote(delivery_id, safe='')}/commands"


def admin_path(token: str, **query: str) -> str:
    """The path (and query) of the administrators' list for an admin's link token:
    ``/admin?t=...`` and ``query`` (e.g. ``command``)."""
    return f"{ADMIN_PATH}?{urlencode({'t': token, **query})}"


def scorecards_path(token: str, **query: str) -> str:
    """The path (and query) of the administrators' table of every ISV's scorecard for an
    admin's link token: ``/admin/scorecards?t=...`` and ``query`` (``sort``, ``order``)."""
    return f"{SCORECARDS_PATH}?{urlencode({'t': token, **query})}"


def scorecard_path(isv_id: str, token: str, **query: str) -> str:
    """The path (and query) of one ISV's scorecard as an admin sees it, for an admin's link
    token: ``/admin/scorecards/<isv_id>?t=...`` (the id percent-encoded, ``/`` included) and
    ``query`` (``from``, ``to``)."""
    return f"{SCORECARDS_PATH}/{quote(isv_id, safe='')}?{urlencode({'t': token, **query})}"


def page_url(
    settings: Settings,
    delivery_id: str,
    party_id: str,
    role: Role | str,
    action: str | None = None,
) -> str:
    """The absolute URL (under ``DC_PUBLIC_URL``) of ``delivery_id``'s page, signed for
    ``party_id`` as ``role``; with ``action`` (a command type) the page opens with that
    action's form ready. Opening it never performs the action.

    For ``role="admin"`` (the emails to ``DC_ADMIN_EMAIL``) the token is an admin's, which
    opens every delivery's page and ``/admin``; ``party_id`` is then the admin's name
    (``"admin"``).

    Raises:
      ValueError: For an ``action`` not in ``PUBLIC_DELIVERY_COMMANDS``, a malformed
        ``delivery_id``, or anything :func:`sign_link` refuses.
    """
    if action is not None and action not in PUBLIC_DELIVERY_COMMANDS:
        known = ", ".join(sorted(PUBLIC_DELIVERY_COMMANDS))
        raise ValueError(f"action must be one of: {known}")
    if not is_hex_id(delivery_id):
        raise ValueError(f"not a delivery id: {delivery_id!r}")
    scope = ALL_DELIVERIES if Role(role) == Role.ADMIN else delivery_id
    token = sign_link(settings, scope, party_id, role)
    return public_base(settings) + page_path(delivery_id, token, action)


def admin_url(settings: Settings) -> str:
    """The absolute URL of the administrators' list of deliveries, signed for an admin."""
    return public_base(settings) + admin_path(sign_admin_link(settings))
