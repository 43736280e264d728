"""Who may act now, and with which commands: read once from the process tables and the global
commands, as the engine (``shared.domain.engine``, its checks in ``refusals``) accepts them.

The rules, from the brief (/work/shared/BRIEF.md: the roles table, the terminal states, "Disputes"):

- a delivery in ``completed`` or ``terminated`` takes no more commands;
- otherwise a party may send the commands of its rows leaving the current state
  (``processes.Process.rows_from``), in table order, its *steps*;
- the customer or the ISV may open a dispute while none is open; while one is open, only an
  administrator acts: they resolve it or terminate the delivery;
- an administrator may terminate a delivery in every state that is not terminal.

Only commands a party sends are answered here (``PUBLIC_DELIVERY_COMMANDS``): the timer's
``expire_deadline`` rests on a deadline falling due, not on anyone's choice. Whether the
caller is *this* delivery's customer or ISV, and whether the attachments a command names were
uploaded to it, are the engine's checks too, but of the command and its caller, not of the
state: the pages' link guard and forms answer them.

Pure: no I/O. The pages (``services.gateway.pages.words``) and the emails
(``services.notifier.sending.recipient_link``) ask here rather than reading the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from shared.domain.commands import PUBLIC_DELIVERY_COMMANDS
from shared.domain.delivery import Delivery
from shared.domain.processes import DISPUTE_NEEDED, GLOBAL_COMMANDS, PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, ProcessName, State

#: The global commands in the order a page lists them after the steps, each with whether it
#: needs a dispute open (True), none open (False), or either (None): ``processes.DISPUTE_NEEDED``.
GLOBAL_ACTIONS: tuple[tuple[str, bool | None], ...] = tuple(DISPUTE_NEEDED.items())


@dataclass(frozen=True)
class Situation:
    """Where a delivery stands, as far as who may act depends on it: its ``process``, its
    ``state``, and whether a dispute is open on it."""

    process: ProcessName
    state: State
    dispute_open: bool = False

    @classmethod
    def of(cls, delivery: Delivery) -> Situation:
        """The situation of a ``Delivery`` (a dispute counts while its status is ``open``)."""
        return cls(delivery.process, delivery.state, delivery.dispute_open)

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
    open; otherwise the people with a row leaving the state (``processes.next_actors``),
    which is nobody where only the timer moves the delivery on.

    Raises ``KeyError`` for a process without a table."""
    if situation.terminal:
        return frozenset()
    if situation.dispute_open:
        return frozenset({Role.ADMIN})
    return next_actors(PROCESSES[situation.process], situation.state)
