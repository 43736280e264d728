"""The four delivery processes as data: one table of rows each, read by one engine.

A row says: in ``state``, ``role`` may send ``command`` and the delivery moves to ``to``.
Rows whose command is ``expire_deadline`` name the deadline kind that fires them.
Deadlines belong to states: entering a state from another opens its deadlines,
leaving it cancels them, so "cancel when the customer acts first" needs no extra rule.
A fifth process is a fifth table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.domain.roles import Role
from shared.domain.states import DeadlineKind, ProcessName, State

CUSTOMER, ISV, SYSTEM = Role.CUSTOMER, Role.ISV, Role.SYSTEM


@dataclass(frozen=True)
class Row:
    """One transition: in ``state``, ``role`` may send ``command`` and the delivery moves to
    ``to`` (the brief's "The four processes")."""

    state: State
    command: str
    role: Role
    to: State
    #: For ``expire_deadline`` rows: which deadline kind fires this row.
    deadline: DeadlineKind | None = None


@dataclass(frozen=True)
class Process:
    """One delivery process: its transitions and the deadlines its states open."""

    name: ProcessName
    rows: tuple[Row, ...]
    #: Deadlines opened on entering each state (and cancelled on leaving it).
    deadlines: Mapping[State, tuple[DeadlineKind, ...]] = field(default_factory=dict)
    #: States every path to ``completed`` must pass through, in order.
    mandatory: tuple[State, ...] = ()

    def rows_from(self, state: State) -> tuple[Row, ...]:
        """The rows leaving ``state``, in table order; empty for a terminal state."""
        return tuple(row for row in self.rows if row.state == state)

    @property
    def states(self) -> frozenset[State]:
        """Every state a row leaves or enters."""
        return frozenset({row.state for row in self.rows} | {row.to for row in self.rows})

    @property
    def commands(self) -> frozenset[str]:
        """Every command type a row names (the global commands are not in the tables)."""
        return frozenset(row.command for row in self.rows)


def _confirmation(state: State, *, to: State, changes_to: State) -> tuple[Row, ...]:
    """The final confirmation: the customer confirms, asks for changes, or the window runs out."""
    return (
        Row(state, "confirm", CUSTOMER, to),
        Row(state, "request_changes", CUSTOMER, changes_to),
        Row(state, "expire_deadline", SYSTEM, to, DeadlineKind.CONFIRMATION_WINDOW),
        Row(state, "expire_deadline", SYSTEM, state, DeadlineKind.REMINDER),
    )


_CONFIRMATION_DEADLINES = (DeadlineKind.CONFIRMATION_WINDOW, DeadlineKind.REMINDER)

S = State

BASIC = Process(
    name=ProcessName.BASIC,
    rows=(
        Row(S.AWAITING_DEMAND, "submit_demand", CUSTOMER, S.IN_DELIVERY),
        Row(S.IN_DELIVERY, "finish", ISV, S.AWAITING_CONFIRMATION),
        *_confirmation(S.AWAITING_CONFIRMATION, to=S.COMPLETED, changes_to=S.IN_DELIVERY),
    ),
    deadlines={S.AWAITING_CONFIRMATION: _CONFIRMATION_DEADLINES},
    mandatory=(S.AWAITING_DEMAND, S.IN_DELIVERY, S.AWAITING_CONFIRMATION),
)

DOUBLE_CHECK = Process(
    name=ProcessName.DOUBLE_CHECK,
    rows=(
        Row(S.AWAITING_DEMAND, "submit_demand", CUSTOMER, S.IN_DELIVERY),
        Row(S.IN_DELIVERY, "finish", ISV, S.AWAITING_CONFIRMATION),
        *_confirmation(S.AWAITING_CONFIRMATION, to=S.IN_WARRANTY, changes_to=S.IN_DELIVERY),
        Row(S.IN_WARRANTY, "request_warranty_service", CUSTOMER, S.IN_WARRANTY),
        Row(S.IN_WARRANTY, "confirm_warranty", CUSTOMER, S.COMPLETED),
        Row(S.IN_WARRANTY, "expire_deadline", SYSTEM, S.COMPLETED, DeadlineKind.WARRANTY),
    ),
    deadlines={
        S.AWAITING_CONFIRMATION: _CONFIRMATION_DEADLINES,
        S.IN_WARRANTY: (DeadlineKind.WARRANTY,),
    },
    mandatory=(S.AWAITING_DEMAND, S.IN_DELIVERY, S.AWAITING_CONFIRMATION, S.IN_WARRANTY),
)

CONTRACT = Process(
    name=ProcessName.CONTRACT,
    rows=(
        Row(S.AWAITING_DEMAND, "submit_demand", CUSTOMER, S.AWAITING_CONTRACT),
        Row(S.AWAITING_CONTRACT, "upload_contract", ISV, S.IN_DELIVERY),
        Row(S.IN_DELIVERY, "finish", ISV, S.AWAITING_CONFIRMATION),
        *_confirmation(S.AWAITING_CONFIRMATION, to=S.COMPLETED, changes_to=S.IN_DELIVERY),
    ),
    deadlines={S.AWAITING_CONFIRMATION: _CONFIRMATION_DEADLINES},
    mandatory=(S.AWAITING_DEMAND, S.AWAITING_CONTRACT, S.IN_DELIVERY, S.AWAITING_CONFIRMATION),
)

STEPWISE = Process(
    name=ProcessName.STEPWISE,
    rows=(
        Row(S.AWAITING_DEMAND, "submit_demand", CUSTOMER, S.FUNCTIONAL_DESIGN),
        Row(S.FUNCTIONAL_DESIGN, "finish", ISV, S.CONFIRM_FUNCTIONAL_DESIGN),
        Row(S.CONFIRM_FUNCTIONAL_DESIGN, "confirm", CUSTOMER, S.UED),
        Row(S.CONFIRM_FUNCTIONAL_DESIGN, "request_changes", CUSTOMER, S.FUNCTIONAL_DESIGN),
        Row(S.UED, "finish", ISV, S.CONFIRM_UED),
        Row(S.CONFIRM_UED, "confirm", CUSTOMER, S.DEVELOPMENT_TESTING),
        Row(S.CONFIRM_UED, "request_changes", CUSTOMER, S.UED),
        Row(S.DEVELOPMENT_TESTING, "finish", ISV, S.INSPECTION_ACCEPTANCE),
        Row(S.INSPECTION_ACCEPTANCE, "confirm", CUSTOMER, S.AWAITING_CONFIRMATION),
        Row(S.INSPECTION_ACCEPTANCE, "request_changes", CUSTOMER, S.DEVELOPMENT_TESTING),
        *_confirmation(S.AWAITING_CONFIRMATION, to=S.COMPLETED, changes_to=S.DEVELOPMENT_TESTING),
    ),
    deadlines={S.AWAITING_CONFIRMATION: _CONFIRMATION_DEADLINES},
    mandatory=(
        S.AWAITING_DEMAND,
        S.FUNCTIONAL_DESIGN,
        S.CONFIRM_FUNCTIONAL_DESIGN,
        S.UED,
        S.CONFIRM_UED,
        S.DEVELOPMENT_TESTING,
        S.INSPECTION_ACCEPTANCE,
        S.AWAITING_CONFIRMATION,
    ),
)

PROCESSES: Mapping[ProcessName, Process] = {
    process.name: process for process in (BASIC, DOUBLE_CHECK, CONTRACT, STEPWISE)
}

#: Commands accepted in every non-terminal state of every process, handled by the engine itself,
#: and who may send them (the brief's roles table and "Disputes").
GLOBAL_COMMANDS: Mapping[str, frozenset[Role]] = {
    "terminate": frozenset({Role.ADMIN}),
    "open_dispute": frozenset({Role.CUSTOMER, Role.ISV}),
    "resolve_dispute": frozenset({Role.ADMIN}),
}
#: Whether each global command needs a dispute open (True), none open (False) or either
#: (None), in the order pages list them: the engine (``refusals``) and the offer of actions
#: (``actions``) both read it.
DISPUTE_NEEDED: Mapping[str, bool | None] = {
    "open_dispute": False,
    "resolve_dispute": True,
    "terminate": None,
}


def moves_on_by_itself(process: ProcessName, state: State, kind: DeadlineKind) -> bool:
    """Whether a deadline of ``kind`` falling due moves a delivery of ``process`` in ``state``
    on to another state (an ``expire_deadline`` row of the table): the confirmation window and
    the warranty do; the reminder, which only reminds, does not. While such a deadline runs,
    the delivery is not stuck: the clock moves it on if nobody acts.

    Raises ``KeyError`` for a process without a table, ``ValueError`` for an unknown kind."""
    kind = DeadlineKind(kind)
    return any(
        row.command == "expire_deadline" and row.deadline == kind and row.to != state
        for row in PROCESSES[ProcessName(process)].rows_from(State(state))
    )


def next_actors(process: Process, state: State) -> frozenset[Role]:
    """Who must act next in ``state``: the human roles with a row leaving it."""
    return frozenset(row.role for row in process.rows_from(state) if row.role != Role.SYSTEM)
