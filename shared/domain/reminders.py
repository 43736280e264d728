"""When a reminder of the automatic confirmation is still worth sending.

The reminder (deadline kind ``reminder``) falls due ``DC_REMINDER_LEAD`` before the
confirmation window closes, to give the customer that long to confirm or ask for changes.
Fired late (a timer outage, a backlog), it may arrive when the confirmation is due already,
or so soon that nobody could act on it: then it is moot, and only confuses ("confirmed
automatically … (now)"). A reminder is worth sending only while its confirmation window is
still open and closes at least ``MIN_NOTICE_SHARE`` of the lead ahead.

A reminder of a stage that is no longer open never gets here: a state change cancels the
delivery's deadlines, and the engine refuses the firing of one that is not active.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from shared.domain.delivery import Deadline
from shared.domain.states import DeadlineKind

#: The share of the reminder lead that must still be ahead: an hour per day of lead (3 hours
#: of the default 3 days, time to read and act; a sixth of a second of the tests' 4 s).
MIN_NOTICE_SHARE = 1 / 24


def minimum_notice(reminder_lead: timedelta) -> timedelta:
    """How far ahead the automatic confirmation must still be for a reminder to be sent."""
    return reminder_lead * MIN_NOTICE_SHARE


def moot_reminder(
    deadlines: Iterable[Deadline], now: datetime, reminder_lead: timedelta
) -> str | None:
    """Why a reminder fired at ``now`` is not worth sending (in words), or None if it is.

    Parameters:
      deadlines(Iterable[Deadline]): The delivery's deadlines as the reminder's event carries
        them (the fired reminder already gone).
      now(datetime): Aware; when the reminder is being sent.
      reminder_lead(timedelta): The policy's ``DC_REMINDER_LEAD``.

    Returns:
      str | None: None while the confirmation window is active and closes at least
      :func:`minimum_notice` ahead of ``now``.
    """
    window = next(
        (
            d
            for d in deadlines
            if d.kind == DeadlineKind.CONFIRMATION_WINDOW and d.status == "active"
        ),
        None,
    )
    if window is None or window.due_at is None:
        return "no automatic confirmation is pending any more"
    ahead = window.due_at - now
    notice = minimum_notice(reminder_lead)
    if ahead < notice:
        return (
            f"the automatic confirmation is due at {window.due_at.isoformat()}, less than "
            f"{notice} ahead: too late to remind"
        )
    return None
