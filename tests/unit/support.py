"""Helpers shared by the unit tests: parties, sample commands and a driver that walks the engine.

Nothing here knows a particular process: paths are found by BFS over the process tables.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.commands import (
    Confirm,
    ConfirmWarranty,
    Contact,
    ExpireDeadline,
    Finish,
    OpenDelivery,
    OpenDispute,
    RequestChanges,
    RequestWarrantyService,
    ResolveDispute,
    SubmitDemand,
    Terminate,
    UploadContract,
)
from shared.domain.delivery import Deadline, Delivery
from shared.domain.engine import Applied, Decision, Policy, Refused, decide, open_delivery
from shared.domain.files import FileFacts
from shared.domain.processes import PROCESSES, Process, Row
from shared.domain.roles import Actor, Role
from shared.domain.states import DeadlineKind, ProcessName, State

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POLICY = Policy(confirm_window=timedelta(days=14), reminder_lead=timedelta(days=3))
WARRANTY = timedelta(days=30)

CUSTOMER = Actor(id="cust-1", role=Role.CUSTOMER)
ISV = Actor(id="isv-1", role=Role.ISV)
ADMIN = Actor(id="admin-1", role=Role.ADMIN)
MARKETPLACE = Actor(id="marketplace", role=Role.MARKETPLACE)
SYSTEM = Actor(id="timer", role=Role.SYSTEM)
OTHER_CUSTOMER = Actor(id="cust-2", role=Role.CUSTOMER)
OTHER_ISV = Actor(id="isv-2", role=Role.ISV)

#: The right party for each role.
PARTY: Mapping[Role, Actor] = {
    Role.CUSTOMER: CUSTOMER,
    Role.ISV: ISV,
    Role.ADMIN: ADMIN,
    Role.MARKETPLACE: MARKETPLACE,
    Role.SYSTEM: SYSTEM,
}
STRANGERS = (OTHER_CUSTOMER, OTHER_ISV)
ALL_ACTORS = (*PARTY.values(), *STRANGERS)

CONTACT = Contact(name="Ada Buyer", phone="+49 30 1234567", email="ada@example.com")
#: Attachment ids (32 hex digits) and what the gateway knows of them.
CONTRACT_ID = "c" * 32
SPEC_ID = "a" * 32
DELIVERABLE_ID = "b" * 32
BOGUS_DEADLINE_ID = "no-such-deadline"


def open_for(process: ProcessName | str, *, order_id: str = "order-1") -> Delivery:
    command = OpenDelivery(
        order_id=order_id,
        order_spec="1 x website, premium",
        product_id="prod-1",
        isv_id=ISV.id,
        customer_id=CUSTOMER.id,
        customer_email="ada@example.com",
        isv_email="sales@isv.example",
        process=ProcessName(process),
        warranty_period=WARRANTY if process == ProcessName.DOUBLE_CHECK else None,
    )
    decision = open_delivery(command, MARKETPLACE, command_id=f"open-{order_id}", now=T0)
    assert isinstance(decision, Applied), decision
    return decision.delivery


def files_for(delivery: Delivery) -> dict[str, FileFacts]:
    """Every attachment the sample commands name, uploaded to ``delivery``."""
    return {
        CONTRACT_ID: FileFacts(CONTRACT_ID, delivery.delivery_id, "contract.pdf", 48_000, "pdf"),
        SPEC_ID: FileFacts(SPEC_ID, delivery.delivery_id, "spec.docx", 12_000, "docx"),
        DELIVERABLE_ID: FileFacts(DELIVERABLE_ID, delivery.delivery_id, "site.zip", 900_000, "zip"),
    }


def active_deadline(delivery: Delivery, kind: DeadlineKind) -> Deadline | None:
    return next((d for d in delivery.deadlines if d.kind == kind and d.status == "active"), None)


def sample_command(kind: str, delivery: Delivery, *, deadline: DeadlineKind | None = None) -> Any:
    """A valid command of ``kind`` for ``delivery``.

    An expiry names its active deadline of that kind."""
    if kind == "submit_demand":
        return SubmitDemand(contact=CONTACT, demands="A shop with 3 pages", attachments=[SPEC_ID])
    if kind == "upload_contract":
        return UploadContract(attachment=CONTRACT_ID)
    if kind == "finish":
        return Finish(note="here it is", attachments=[DELIVERABLE_ID])
    if kind == "confirm":
        return Confirm()
    if kind == "request_changes":
        return RequestChanges(reason="the logo is too small")
    if kind == "request_warranty_service":
        return RequestWarrantyService(description="the contact form is broken")
    if kind == "confirm_warranty":
        return ConfirmWarranty()
    if kind == "open_dispute":
        return OpenDispute(reason="we disagree on scope")
    if kind == "resolve_dispute":
        return ResolveDispute(outcome="continue", note="carry on")
    if kind == "terminate":
        return Terminate(reason="order refunded")
    if kind == "expire_deadline":
        found = active_deadline(delivery, deadline) if deadline else None
        return ExpireDeadline(deadline_id=found.deadline_id if found else BOGUS_DEADLINE_ID)
    raise AssertionError(f"no sample for {kind}")


def row_command(row: Row, delivery: Delivery) -> Any:
    return sample_command(row.command, delivery, deadline=row.deadline)


def in_order(wanted: Sequence[State], visited: Sequence[State]) -> bool:
    """Whether ``visited`` passes through every state of ``wanted``, in that order."""
    remaining = iter(visited)
    return all(state in remaining for state in wanted)


def path_to(process: Process, target: State, start: State = State.AWAITING_DEMAND) -> list[Row]:
    """The shortest list of rows leading from ``start`` to ``target`` (BFS over the table)."""
    came_by: dict[State, tuple[State, Row] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if state == target:
            break
        for row in process.rows_from(state):
            if row.to not in came_by:
                came_by[row.to] = (state, row)
                queue.append(row.to)
    if target not in came_by:
        raise AssertionError(f"{target} is unreachable from {start} in {process.name}")
    rows: list[Row] = []
    state = target
    while (step := came_by[state]) is not None:
        state, row = step
        rows.append(row)
    return rows[::-1]


class Walker:
    """Drives one delivery through the engine, with its own clock and command ids."""

    def __init__(self, process: ProcessName | str, *, policy: Policy = POLICY):
        self.delivery = open_for(process)
        self.process = PROCESSES[self.delivery.process]
        self.policy = policy
        self.now = T0
        self.files = files_for(self.delivery)
        self._count = 0

    @classmethod
    def at(cls, process: ProcessName | str, state: State, **kwargs: Any) -> Walker:
        walker = cls(process, **kwargs)
        walker.walk_to(state)
        return walker

    def next_id(self) -> str:
        self._count += 1
        return f"cmd-{self._count}"

    def tick(self, by: timedelta = timedelta(hours=1)) -> datetime:
        self.now += by
        return self.now

    def decide(
        self, command: Any, actor: Actor, *, advance: timedelta = timedelta(hours=1)
    ) -> Decision:
        """Decide without keeping the outcome."""
        self.tick(advance)
        return decide(
            self.delivery,
            command,
            actor,
            command_id=self.next_id(),
            now=self.now,
            policy=self.policy,
            files=self.files,
        )

    def send(
        self, command: Any, actor: Actor, *, advance: timedelta = timedelta(hours=1)
    ) -> Decision:
        """Decide and, if applied, keep the new delivery."""
        decision = self.decide(command, actor, advance=advance)
        if isinstance(decision, Applied):
            self.delivery = decision.delivery
        return decision

    def apply(self, command: Any, actor: Actor, **kwargs: Any) -> Applied:
        decision = self.send(command, actor, **kwargs)
        assert isinstance(decision, Applied), f"{command!r} by {actor} refused: {decision}"
        return decision

    def refuse(self, command: Any, actor: Actor, **kwargs: Any) -> Refused:
        before = self.delivery.model_copy(deep=True)
        decision = self.send(command, actor, **kwargs)
        assert isinstance(decision, Refused), f"{command!r} by {actor} was applied"
        assert self.delivery == before
        return decision

    def step(self, row: Row) -> Applied:
        return self.apply(row_command(row, self.delivery), PARTY[row.role])

    def walk_to(self, state: State) -> None:
        """Walk the shortest path from the current state to ``state``, each row by its party."""
        for row in path_to(self.process, state, self.delivery.state):
            self.step(row)
        assert self.delivery.state == state

    def run(self, *kinds: str) -> None:
        """Apply the row of each ``kind`` leaving the current state (by its right party)."""
        for kind in kinds:
            rows = [r for r in self.process.rows_from(self.delivery.state) if r.command == kind]
            assert rows, f"no {kind} from {self.delivery.state}"
            self.step(rows[0])
