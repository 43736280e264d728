"""Who may act now, and with which commands: read once from the process tables and the global
commands, as the engine (``shared.domain.engine``, its checks in ``refusals``) accepts them.

The rules, from the brief (/work/shared/BRIEF.md: the roles table, the terminal states, "Disputes"):

- a delivery in ``completed`` or ``terminated`` takes no more commands;
- otherwise a party may send the commands of its rows leaving the current state
  (``processes.Process.rows_from``), in table order, its *steps*;
- the customer or the ISV may open a dispute while none is open; while one is open, only an
  administrator acts: they resolve it or terminate the delivery;
- an administrator may terminate a delivery in every state that is not terminal;
- once the customer asks for warranty service, the ISV owes it: while that request is the
  latest warranty event (:func:`awaits_warranty_service`) the ISV must act and the customer
  waits for them (:func:`whose_turn`), although no command of the ISV's records the service
  and the customer may still confirm the warranty or ask again.

Only commands a party sends are answered here (``PUBLIC_DELIVERY_COMMANDS``): the timer's
``expire_deadline`` rests on a deadline falling due, not on anyone's choice. Whether the
caller is *this* delivery's customer or ISV, and whether the attachments a command names were
uploaded to it, are the engine's checks too, but of the command and its caller, not of the
state: the pages' link guard and forms answer them.

Pure: no I/O. The pages (``services.gateway.pages.words``), each party's list
(``services.runtime.party_lists``) and the emails (``services.notifier.rules``,
``services.notifier.recipient_links.recipient_link``) ask here rather than reading the tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from shared.domain.commands import PUBLIC_DELIVERY_COMMANDS
from shared.domain.delivery import Delivery
from shared.domain.events import EVENT_TYPE_OF_COMMAND
from shared.domain.processes import DISPUTE_NEEDED, GLOBAL_COMMANDS, PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, ProcessName, State

#: The global commands in the order a page lists them after the steps, each with whether it
#: needs a dispute open (True), none open (False), or either (None): ``processes.DISPUTE_NEEDED``.
GLOBAL_ACTIONS: tuple[tuple[str, bool | None], ...] = tuple(DISPUTE_NEEDED.items())


def awaits_warranty_service(
    state: State, last_request_at: datetime | None, dispute_resolved_at: datetime | None
) -> bool:
    """Whether the ISV owes the warranty service the customer asked for: the delivery is in
    its warranty and the customer's latest request (``last_request_at``) is its latest
    warranty event, no dispute having been resolved since (``dispute_resolved_at``, the
    latest dispute's: a resolution decides anew, and the customer is asked again to confirm
    the warranty or ask for service). The warranty's end, or its confirmation, ends it."""
    if state != State.IN_WARRANTY or last_request_at is None:
        return False
    return dispute_resolved_at is None or last_request_at > dispute_resolved_at


@dataclass(frozen=True)
class Situation:
    """Where a delivery stands, as far as who may act depends on it: its ``process``, its
    ``state``, whether a dispute is open on it, and whether the customer's warranty request
    awaits the ISV (:func:`awaits_warranty_service`)."""

    process: ProcessName
    state: State
    dispute_open: bool = False
    warranty_service_requested: bool = False

    @classmethod
    def of(cls, delivery: Delivery) -> Situation:
        """The situation of a ``Delivery`` (a dispute counts while its status is ``open``)."""
        requests, dispute = delivery.warranty_requests, delivery.dispute
        return cls(
            delivery.process,
            delivery.state,
            delivery.dispute_open,
            awaits_warranty_service(
                delivery.state,
                requests[-1].at if requests else None,
                dispute.resolved_at if dispute else None,
            ),
        )

    @classmethod
    def of_document(cls, document: Mapping[str, Any]) -> Situation:
        """The situation of a stored delivery (``process``, ``state``, and ``dispute`` and
        ``warranty_requests`` when it has them), read without validating the whole document
        (lists read hundreds without their records); the same as :meth:`of` its model.

        Raises:
          KeyError: Without ``process`` or ``state``.
          ValueError: For an unknown process or state.
        """
        state = State(document["state"])
        dispute = document.get("dispute") or {}
        requests = document.get("warranty_requests") or ()
        return cls(
            ProcessName(document["process"]),
            state,
            dispute.get("status") == "open",
            awaits_warranty_service(
                state, requests[-1]["at"] if requests else None, dispute.get("resolved_at")
            ),
        )

    @classmethod
    def after_event(cls, event_type: str, process: ProcessName, state: State) -> Situation:
        """The situation an event of ``event_type`` leaves a delivery of ``process`` in
        ``state`` in, as far as the event tells: a warranty request is then the latest warranty
        event (:func:`awaits_warranty_service`); after any other event none awaits the ISV
        (entering the warranty, a resolved dispute). An open dispute is not told: the
        notifier's rules ask nobody but the administrator then."""
        requested = event_type == EVENT_TYPE_OF_COMMAND["request_warranty_service"]
        return cls(
            process, state, warranty_service_requested=requested and state == State.IN_WARRANTY
        )

    @property
    def terminal(self) -> bool:
        """Whether the delivery takes no more commands (``TERMINAL_STATES``)."""
        return self.state in TERMINAL_STATES


def steps(process: ProcessName, state: State, role: Role) -> tuple[str, ...]:
    """The commands of ``process``'s table that ``role`` may send in ``state`` (its rows
    leaving ``state``), in table order, each once; () in a terminal state or when ``role`` has
    none there. Only commands a party sends (``PUBLIC_DELIVERY_COMMANDS``): never the timer's
    ``expire_deadline``. An open dispute is not looked at: see :func:`actions`.

    Raises ``KeyError`` for a process without a table."""
    rows = PROCESSES[process].rows_from(state)
    return tuple(
        dict.fromkeys(
            row.command
            for row in rows
            if row.role == role and row.command in PUBLIC_DELIVERY_COMMANDS
        )
    )


def next_step(process: ProcessName, state: State, role: Role) -> str | None:
    """The first of :func:`steps`: what an email asks ``role`` to do in ``state`` (its link
    opens that form), or None when the process gives ``role`` nothing to do there. Global
    commands (disputes, termination) are never a next step."""
    found = steps(process, state, role)
    return found[0] if found else None


def actions(situation: Situation, role: Role) -> tuple[str, ...]:
    """Every command ``role`` may send now in ``situation``, as a page lists them: its
    :func:`steps` (none while a dispute is open), then the global commands it may send (in
    ``GLOBAL_ACTIONS`` order). () in a terminal state. The engine applies each of them when
    sent by the right party with valid fields, and refuses every other command from ``role``
    (``expire_deadline`` aside, which is the timer's).

    Raises ``KeyError`` for a process without a table."""
    if situation.terminal:
        return ()
    found = () if situation.dispute_open else steps(situation.process, situation.state, role)
    allowed = tuple(
        kind
        for kind, needs_dispute in GLOBAL_ACTIONS
        if role in GLOBAL_COMMANDS[kind]
        and (needs_dispute is None or needs_dispute == situation.dispute_open)
    )
    return found + allowed


def may(situation: Situation, role: Role, command: str) -> bool:
    """Whether ``role`` may send a command of type ``command`` now (it is in :func:`actions`)."""
    return command in actions(situation, role)


@cache
def ever_sendable(role: Role) -> frozenset[str]:
    """Every command ``role`` may send in some situation of some process: what a page may
    ever take from ``role`` (anything else is refused at once, without reading the delivery).
    The union of :func:`actions` over every process, state and dispute flag."""
    return frozenset(
        kind
        for process in PROCESSES.values()
        for state in process.states
        for dispute_open in (False, True)
        for kind in actions(Situation(process.name, state, dispute_open), role)
    )


def whose_turn(situation: Situation) -> frozenset[Role]:
    """Who must act next: nobody in a terminal state; an administrator while a dispute is
    open; the ISV while the customer's warranty request awaits the service
    (``Situation.warranty_service_requested``: the customer waits for them, although they may
    still confirm or ask again); otherwise the people with a row leaving the state
    (``processes.next_actors``), which is nobody where only the timer moves the delivery on.

    Raises ``KeyError`` for a process without a table."""
    if situation.terminal:
        return frozenset()
    if situation.dispute_open:
        return frozenset({Role.ADMIN})
    if situation.warranty_service_requested:
        return frozenset({Role.ISV})
    return next_actors(PROCESSES[situation.process], situation.state)
