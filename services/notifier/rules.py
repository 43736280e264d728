"""Who is emailed for an event, and whether they must act or are only informed.

Derived from the process tables: whoever has a row leaving the new state must act next;
the other party is informed; admins hear of disputes and terminations.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.events import Event
from shared.domain.processes import PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES

#: Events an admin is told of, at ``DC_ADMIN_EMAIL``.
ADMIN_EVENTS = frozenset({"dispute_opened", "dispute_resolved", "delivery_terminated"})
#: Events only the customer hears of.
CUSTOMER_ONLY_EVENTS = frozenset({"confirmation_reminder"})


@dataclass(frozen=True)
class Recipient:
    email: str
    role: Role
    must_act: bool


def recipients(event: Event, admin_email: str) -> list[Recipient]:
    summary = event.delivery
    dispute_open = event.type == "dispute_opened"
    acting = (
        frozenset()
        if event.to_state in TERMINAL_STATES or dispute_open
        else next_actors(PROCESSES[summary.process], event.to_state)
    )
    parties = [(Role.CUSTOMER, summary.customer_email), (Role.ISV, summary.isv_email)]
    if event.type in CUSTOMER_ONLY_EVENTS:
        parties = parties[:1]
    chosen = [Recipient(email, role, role in acting) for role, email in parties]
    if event.type in ADMIN_EVENTS:
        chosen.append(Recipient(admin_email, Role.ADMIN, must_act=dispute_open))
    return chosen
