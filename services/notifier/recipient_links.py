"""Each recipient's signed links in an email: to the delivery's page, opening the form of what
they are to do next, and to their own list of deliveries (``services.runtime.links``,
``services.runtime.list_links``).
"""

from __future__ import annotations

from services.notifier.rules import Recipient
from services.runtime.links import ADMIN_PARTY, page_url
from services.runtime.list_links import list_url
from shared.config import Settings
from shared.domain.actions import next_step
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.events import Event


def recipient_link(settings: Settings, event: Event, recipient: Recipient) -> str | None:
    """The recipient's signed link to the delivery's page, opening the form of what they are
    to do next, if anything (``shared.domain.actions.next_step``: a step of the process, never
    a global command; opening it never does it: that takes a press). None when no page can be
    signed for the event's ids."""
    summary = event.delivery
    field = PARTY_ID_FIELDS.get(recipient.role)
    # An admin's link (no party field) opens every delivery's page, and /admin.
    party = ADMIN_PARTY if field is None else getattr(summary, field)
    action = (
        next_step(summary.process, event.to_state, recipient.role) if recipient.must_act else None
    )
    try:
        return page_url(settings, summary.delivery_id, party, recipient.role, action)
    except ValueError:
        return None  # ids no page can be signed for (only hand-made events): the API link stays


def recipient_list_link(settings: Settings, event: Event, recipient: Recipient) -> str | None:
    """The recipient's signed link to their own list of deliveries (``list_links.list_url``: ``/me``
    for the customer and the ISV, ``/admin`` for an administrator). None when no link can be
    signed for the event's party ids (only hand-made events)."""
    field = PARTY_ID_FIELDS.get(recipient.role)
    party = ADMIN_PARTY if field is None else getattr(event.delivery, field)
    try:
        return list_url(settings, party, recipient.role)
    except ValueError:
        return None
