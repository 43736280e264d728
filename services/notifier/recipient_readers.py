"""In which language and time zone each recipient reads their email."""

from __future__ import annotations

from typing import NamedTuple

from services.notifier.rules import Recipient
from shared.config import Settings
from shared.domain.events import Event
from shared.domain.roles import Role


class ReaderChoice(NamedTuple):
    """A recipient's locale (BCP 47 tag) and time zone (IANA name)."""

    locale: str
    time_zone: str


def recipient_reader(settings: Settings, event: Event, recipient: Recipient) -> ReaderChoice:
    """The customer's and the ISV's: those the delivery was opened with; an administrator's:
    ``DC_ADMIN_LOCALE`` and ``DC_ADMIN_TIME_ZONE``; each, when not given,
    ``DC_DEFAULT_LOCALE`` and ``DC_DEFAULT_TIME_ZONE``."""
    summary = event.delivery
    if recipient.role == Role.CUSTOMER:
        locale, zone = summary.customer_locale, summary.customer_time_zone
    elif recipient.role == Role.ISV:
        locale, zone = summary.isv_locale, summary.isv_time_zone
    else:
        return ReaderChoice(settings.admin_reader_locale, settings.admin_reader_time_zone)
    return ReaderChoice(settings.reader_locale(locale), settings.reader_time_zone(zone))
