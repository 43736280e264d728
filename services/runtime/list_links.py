"""List links: one click opens a party's own list of deliveries (``/me?t=``), for a while.

A list token (:func:`sign_list_link`, :func:`read_list_link`) names no delivery but one party
(a customer or an ISV) and their role: it opens that party's list of deliveries and nothing
else. It is signed and expires like a page link (``services.runtime.links``: same secret, same
signer, same ``DC_LINK_TTL`` and clock leeway), with a payload of its own kind, so the two
never stand in for each other: a page token (an admin's included) opens no list
(``LinkError`` ``other_page``). An administrator's list is ``/admin``.
``delivery-center link me <party_id> <role>`` prints one (``services.ops.commands``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from services.runtime.links import (
    LinkError,
    admin_url,
    page_link_of,
    public_base,
    serializer,
    verified,
)
from shared.config import Settings
from shared.domain.roles import ACTOR_ID_RULE, Actor, Role, is_actor_id

#: Where a party's own list of deliveries lives, under the public URL.
ME_PATH = "/me"
#: Roles a list link may carry: the parties of deliveries (an administrator's list is /admin).
LIST_ROLES = frozenset({Role.CUSTOMER, Role.ISV})
#: The payload's mark of a list token: ``{"k": "list", "p": party, "r": role}``.
LIST_KIND = "list"


@dataclass(frozen=True)
class ListLink:
    """What a valid list link's token says: whose list it opens."""

    party_id: str
    role: Role
    signed_at: datetime

    @property
    def actor(self) -> Actor:
        """The party the list belongs to, as the actor its delivery links are signed for."""
        return Actor(id=self.party_id, role=self.role)


def is_list_payload(payload: Any) -> bool:
    """True if a verified token's payload is a list token's (``{"k": "list", ...}``)."""
    return isinstance(payload, dict) and payload.get("k") == LIST_KIND


def list_link_of(payload: Any, signed_at: datetime) -> ListLink:
    """The :class:`ListLink` a verified list payload names.

    Raises:
      LinkError: ``malformed`` if it names no valid party and role.
    """
    try:
        party_id, role = payload["p"], Role(payload["r"])
        _check_list(party_id, role)
    except (KeyError, TypeError, ValueError) as error:
        raise LinkError("malformed", "the link's token does not name a list") from error
    return ListLink(party_id, role, signed_at)


def _check_list(party_id: str, role: Role) -> None:
    if role not in LIST_ROLES:
        allowed = ", ".join(sorted(LIST_ROLES))
        raise ValueError(f"a list link's role is one of {allowed}, not {role}")
    if not is_actor_id(party_id):  # a link's party: an actor's id (``roles.ActorId``)
        raise ValueError(f"a party id is {ACTOR_ID_RULE}")


def sign_list_link(
    settings: Settings, party_id: str, role: Role | str, *, signed_at: datetime | None = None
) -> str:
    """The token of a link to ``party_id``'s own list of deliveries (``/me``), as ``role``.

    Signed like ``links.sign_link`` (same secret, same lifetime ``DC_LINK_TTL``) with a payload
    of its own kind, ``{"k": "list", "p": party_id, "r": role}``, so it never opens a page.

    Parameters:
      settings(Settings): ``link_secret`` signs it.
      party_id(str): The party's id (a delivery's ``customer_id`` or ``isv_id``):
        ``roles.ACTOR_ID_RULE``.
      role(Role | str): ``customer`` or ``isv`` (an administrator's list is ``/admin``:
        :func:`list_url`).
      signed_at(datetime | None): Backdates the signature (tests of expiry); default now.

    Returns:
      str: An itsdangerous URL-safe timed token.

    Raises:
      ValueError: For another role or a malformed party id.
    """
    role = Role(role)
    _check_list(party_id, role)
    payload = {"k": LIST_KIND, "p": party_id, "r": role.value}
    return serializer(settings, signed_at).dumps(payload)


def read_list_link(settings: Settings, token: str, *, now: datetime | None = None) -> ListLink:
    """The list link ``token`` stands for, checked like ``links.read_link``.

    Returns:
      ListLink: Its party, role and signing time (aware UTC).

    Raises:
      LinkError: ``expired``, ``not_yet_valid``, ``tampered`` or ``malformed`` as for
        ``links.read_link``, and ``other_page`` for a delivery page's token, an admin's included
        (``opens`` is its ``links.Link``).
    """
    payload, signed_at = verified(settings, token, now)
    if not is_list_payload(payload):
        if isinstance(payload, dict) and "d" in payload:
            raise LinkError(
                "other_page",
                "the link opens a delivery's page, not a list",
                opens=page_link_of(payload, signed_at),
            )
        raise LinkError("malformed", "the link's token does not name a list")
    return list_link_of(payload, signed_at)


def me_path(token: str, **query: str) -> str:
    """The path (and query) of a party's own list for a list token: ``/me?t=...`` and
    ``query`` (filters, ``after``), in that order."""
    return f"{ME_PATH}?{urlencode({'t': token, **query})}"


def list_url(settings: Settings, party_id: str, role: Role | str) -> str:
    """The absolute URL of ``party_id``'s own list of deliveries, signed for them as ``role``:
    ``/me?t=...`` for a customer or an ISV; for ``role="admin"`` the administrators' list,
    ``links.admin_url`` (``party_id`` is then ignored).

    Raises:
      ValueError: For a role that is none of customer, ISV and admin, or a malformed party id.
    """
    if Role(role) == Role.ADMIN:
        return admin_url(settings)
    return public_base(settings) + me_path(sign_list_link(settings, party_id, role))
