"""The engine: (delivery, command, actor, now) -> a refusal, or the new delivery and what it caused.

Pure: no I/O and no clock of its own. It reads the process tables in ``processes``;
nothing here knows a particular process.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.commands import (
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
from shared.domain.delivery import (
    Deadline,
    Delivery,
    Dispute,
    HistoryEntry,
    RefusedEntry,
    Review,
    Stage,
    WarrantyRequest,
)
from shared.domain.events import (
    EVENT_TYPE_OF_COMMAND,
    EVENT_TYPE_OF_DEADLINE,
    DeliverySummary,
    Event,
)
from shared.domain.files import FileFacts, contract_problem
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, Process, Row
from shared.domain.roles import Actor, Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind, ProcessName, State

#: Namespace of the ids the engine derives (deliveries from orders, events from commands).
ID_NAMESPACE = uuid.UUID("6f1d7d3e-5a4b-4c1e-9a59-2f0c8f7b9d10")


class Reason(StrEnum):
    """Stable codes of a refusal; the message beside each says it in words."""

    TERMINAL_STATE = "terminal_state"
    NOT_A_PARTY = "not_a_party"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    NOT_IN_PROCESS = "not_in_process"
    WRONG_STATE = "wrong_state"
    DISPUTE_OPEN = "dispute_open"
    DISPUTE_ALREADY_OPEN = "dispute_already_open"
    NO_OPEN_DISPUTE = "no_open_dispute"
    DEADLINE_NOT_ACTIVE = "deadline_not_active"
    UNKNOWN_ATTACHMENT = "unknown_attachment"
    INVALID_CONTRACT_FILE = "invalid_contract_file"
    WARRANTY_PERIOD_REQUIRED = "warranty_period_required"
    ALREADY_OPEN = "already_open"


@dataclass(frozen=True)
class Policy:
    """The durations the engine needs, from settings."""

    confirm_window: timedelta
    reminder_lead: timedelta


@dataclass(frozen=True)
class Refused:
    code: Reason
    message: str


@dataclass(frozen=True)
class Applied:
    delivery: Delivery
    events: tuple[Event, ...]
    #: Every deadline opened, paused, resumed, cancelled or fired, in its new form.
    deadline_changes: tuple[Deadline, ...] = field(default=())


Decision = Applied | Refused


def delivery_id_for(order_id: str) -> str:
    """The same order always gets the same delivery id."""
    return uuid.uuid5(ID_NAMESPACE, f"order:{order_id}").hex


def event_id_for(command_id: str) -> str:
    return uuid.uuid5(ID_NAMESPACE, f"event:{command_id}").hex


def open_delivery(
    command: OpenDelivery, actor: Actor, *, command_id: str, now: datetime
) -> Decision:
    if actor.role not in (Role.MARKETPLACE, Role.ADMIN):
        return Refused(Reason.ROLE_NOT_ALLOWED, "only the marketplace or an admin opens a delivery")
    if command.process == ProcessName.DOUBLE_CHECK and command.warranty_period is None:
        return Refused(
            Reason.WARRANTY_PERIOD_REQUIRED, "a double_check delivery needs a warranty_period"
        )
    delivery = Delivery(
        delivery_id=delivery_id_for(command.order_id),
        order_id=command.order_id,
        order_spec=command.order_spec,
        product_id=command.product_id,
        process=command.process,
        state=State.AWAITING_DEMAND,
        version=1,
        customer_id=command.customer_id,
        customer_email=str(command.customer_email),
        isv_id=command.isv_id,
        isv_email=str(command.isv_email),
        warranty_period_seconds=(
            int(command.warranty_period.total_seconds()) if command.warranty_period else None
        ),
        history=[
            HistoryEntry(
                command_id=command_id,
                command=command.type,
                actor=actor,
                at=now,
                from_state=None,
                to_state=State.AWAITING_DEMAND,
            )
        ],
        opened_at=now,
        updated_at=now,
    )
    event = _event(
        delivery, EVENT_TYPE_OF_COMMAND[command.type], command, command_id, actor, now, None, {}
    )
    return Applied(delivery, (event,))


def decide(
    delivery: Delivery,
    command: Any,
    actor: Actor,
    *,
    command_id: str,
    now: datetime,
    policy: Policy,
    files: Mapping[str, FileFacts] | None = None,
) -> Decision:
    """Apply ``command`` by ``actor`` to ``delivery`` at ``now``, or say why not.

    ``files`` holds what is known of the attachments the command names.
    """
    if isinstance(command, OpenDelivery):
        return Refused(Reason.ALREADY_OPEN, f"order {delivery.order_id} already has this delivery")
    refusal = _refusal(delivery, command, actor, files or {})
    if refusal is not None:
        return refusal
    return _apply(delivery, command, actor, command_id, now, policy)


def refusal_entry(
    delivery: Delivery,
    command: Any,
    actor: Actor,
    refused: Refused,
    *,
    command_id: str,
    now: datetime,
) -> RefusedEntry:
    return RefusedEntry(
        command_id=command_id,
        command=command.type,
        actor=actor,
        at=now,
        state=delivery.state,
        code=refused.code.value,
        message=refused.message,
    )


# --- refusals -------------------------------------------------------------------------------


def _refusal(
    delivery: Delivery, command: Any, actor: Actor, files: Mapping[str, FileFacts]
) -> Refused | None:
    kind = command.type
    if delivery.state in TERMINAL_STATES:
        return Refused(
            Reason.TERMINAL_STATE, f"the delivery is {delivery.state} and takes no more commands"
        )
    if actor.role in (Role.CUSTOMER, Role.ISV) and actor.id != _party_id(delivery, actor.role):
        return Refused(
            Reason.NOT_A_PARTY, f"{actor.role} {actor.id} is not a party of this delivery"
        )
    if kind in GLOBAL_COMMANDS:
        return _global_refusal(delivery, kind, actor)
    if delivery.dispute is not None and delivery.dispute.status == "open":
        return Refused(
            Reason.DISPUTE_OPEN, "a dispute is open: only an admin may act until it is resolved"
        )
    process = PROCESSES[delivery.process]
    if kind not in process.commands:
        return Refused(Reason.NOT_IN_PROCESS, f"{kind} is not a step of the {process.name} process")
    row_or_refusal = _matching_row(process, delivery, command, actor)
    if isinstance(row_or_refusal, Refused):
        return row_or_refusal
    return _attachment_refusal(delivery, command, files)


def _party_id(delivery: Delivery, role: Role) -> str:
    return delivery.customer_id if role == Role.CUSTOMER else delivery.isv_id


def _global_refusal(delivery: Delivery, kind: str, actor: Actor) -> Refused | None:
    if actor.role not in GLOBAL_COMMANDS[kind]:
        allowed = " or ".join(sorted(GLOBAL_COMMANDS[kind]))
        return Refused(Reason.ROLE_NOT_ALLOWED, f"only the {allowed} may {kind}")
    dispute_open = delivery.dispute is not None and delivery.dispute.status == "open"
    if kind == "open_dispute" and dispute_open:
        return Refused(Reason.DISPUTE_ALREADY_OPEN, "a dispute is already open on this delivery")
    if kind == "resolve_dispute" and not dispute_open:
        return Refused(Reason.NO_OPEN_DISPUTE, "there is no open dispute to resolve")
    return None


def _matching_row(
    process: Process, delivery: Delivery, command: Any, actor: Actor
) -> Row | Refused:
    kind = command.type
    # The role first: whether a command is this role's to send does not depend on its arguments
    # (a customer's expire_deadline is role_not_allowed whatever deadline it names).
    roles = {row.role for row in process.rows if row.command == kind}
    if actor.role not in roles:
        allowed = " or ".join(sorted(roles))
        return Refused(Reason.ROLE_NOT_ALLOWED, f"only the {allowed} may {kind}")
    deadline_kind: DeadlineKind | None = None
    if isinstance(command, ExpireDeadline):
        deadline = _active_deadline(delivery, command.deadline_id)
        if deadline is None:
            return Refused(
                Reason.DEADLINE_NOT_ACTIVE, f"deadline {command.deadline_id} is not active"
            )
        deadline_kind = deadline.kind
    in_state = [
        row
        for row in process.rows_from(delivery.state)
        if row.command == kind and row.deadline == deadline_kind
    ]
    for row in in_state:
        if row.role == actor.role:
            return row
    if in_state:
        return Refused(Reason.ROLE_NOT_ALLOWED, f"only the {in_state[0].role} may {kind} now")
    return Refused(
        Reason.WRONG_STATE, f"{kind} is not possible while the delivery is {delivery.state}"
    )


def _active_deadline(delivery: Delivery, deadline_id: str) -> Deadline | None:
    return next(
        (d for d in delivery.deadlines if d.deadline_id == deadline_id and d.status == "active"),
        None,
    )


def _attachment_refusal(
    delivery: Delivery, command: Any, files: Mapping[str, FileFacts]
) -> Refused | None:
    named = list(getattr(command, "attachments", None) or [])
    if isinstance(command, UploadContract):
        named.append(command.attachment)
    for attachment_id in named:
        facts = files.get(attachment_id)
        if facts is None or facts.delivery_id != delivery.delivery_id:
            return Refused(
                Reason.UNKNOWN_ATTACHMENT,
                f"attachment {attachment_id} was not uploaded to this delivery",
            )
    if isinstance(command, UploadContract):
        problem = contract_problem(files[command.attachment])
        if problem:
            return Refused(Reason.INVALID_CONTRACT_FILE, problem)
    return None


# --- applying -------------------------------------------------------------------------------


def _apply(
    delivery: Delivery, command: Any, actor: Actor, command_id: str, now: datetime, policy: Policy
) -> Applied:
    version = delivery.version + 1
    changes: dict[str, Any] = {}
    deadline_changes: list[Deadline] = []
    deadlines = list(delivery.deadlines)
    details: dict[str, str] = {}
    event_type = EVENT_TYPE_OF_COMMAND.get(command.type, "")

    if isinstance(command, Terminate):
        to_state = State.TERMINATED
        details["reason"] = command.reason
        if delivery.dispute and delivery.dispute.status == "open":
            changes["dispute"] = _resolved(
                delivery.dispute, "terminate", command.reason, actor, now
            )
    elif isinstance(command, OpenDispute):
        to_state = delivery.state
        details["reason"] = command.reason
        changes["dispute"] = Dispute(
            status="open", opened_by=actor, reason=command.reason, opened_at=now
        )
        deadlines = [_paused(d, now) if d.status == "active" else d for d in deadlines]
        deadline_changes = [d for d in deadlines if d.status == "paused"]
    elif isinstance(command, ResolveDispute):
        assert delivery.dispute is not None
        details["outcome"] = command.outcome
        if command.note:
            details["note"] = command.note
        changes["dispute"] = _resolved(delivery.dispute, command.outcome, command.note, actor, now)
        if command.outcome == "terminate":
            to_state = State.TERMINATED
        else:
            to_state = delivery.state
            # A resumed deadline is a new run of the timer under a new id, and the paused run is
            # cancelled: a firing of the old run (in flight, or refused while the dispute was
            # open and so recorded under its command id) can neither fire it early nor block it.
            paused = [d for d in deadlines if d.status == "paused"]
            resumed = [_resumed(d, now, _deadline_id(delivery, version, d.kind)) for d in paused]
            deadlines = [d for d in deadlines if d.status != "paused"] + resumed
            deadline_changes = [d.model_copy(update={"status": "cancelled"}) for d in paused]
            deadline_changes += resumed
    else:
        process = PROCESSES[delivery.process]
        row = _matching_row(process, delivery, command, actor)
        assert isinstance(row, Row)
        to_state = row.to
        changes.update(_record(delivery, command, actor, now, details))
        if isinstance(command, ExpireDeadline):
            fired = next(d for d in deadlines if d.deadline_id == command.deadline_id)
            deadlines.remove(fired)
            deadline_changes.append(fired.model_copy(update={"status": "fired"}))
            event_type = EVENT_TYPE_OF_DEADLINE[fired.kind]

    if to_state != delivery.state:
        deadline_changes += [d.model_copy(update={"status": "cancelled"}) for d in deadlines]
        deadlines = _opened_deadlines(delivery, to_state, version, now, policy)
        deadline_changes += deadlines

    entry = HistoryEntry(
        command_id=command_id,
        command=command.type,
        actor=actor,
        at=now,
        from_state=delivery.state,
        to_state=to_state,
        details=details,
    )
    new = delivery.model_copy(
        update={
            **changes,
            "state": to_state,
            "version": version,
            "deadlines": deadlines,
            "history": [*delivery.history, entry],
            "updated_at": now,
        }
    )
    event = _event(new, event_type, command, command_id, actor, now, delivery.state, details)
    return Applied(new, (event,), tuple(deadline_changes))


def _record(
    delivery: Delivery, command: Any, actor: Actor, now: datetime, details: dict[str, str]
) -> dict[str, Any]:
    """What the command adds to the delivery's records besides its state."""
    if isinstance(command, SubmitDemand):
        return {
            "contact": command.contact,
            "demands": command.demands,
            "attachments": _merged(delivery.attachments, command.attachments),
        }
    if isinstance(command, UploadContract):
        return {"contract": command.attachment}
    if isinstance(command, Finish):
        stage = Stage(
            stage=delivery.state,
            note=command.note,
            attachments=command.attachments,
            finished_at=now,
        )
        if command.note:
            details["note"] = command.note
        return {
            "stages": [*delivery.stages, stage],
            "attachments": _merged(delivery.attachments, command.attachments),
        }
    if isinstance(command, RequestWarrantyService):
        details["description"] = command.description
        request = WarrantyRequest(description=command.description, at=now)
        return {"warranty_requests": [*delivery.warranty_requests, request]}
    review = _review_of(delivery, command, actor, now)
    if review is None or not delivery.stages:
        return {}
    if review.reason:
        details["reason"] = review.reason
    last = delivery.stages[-1]
    return {
        "stages": [
            *delivery.stages[:-1],
            last.model_copy(update={"reviews": [*last.reviews, review]}),
        ]
    }


def _review_of(delivery: Delivery, command: Any, actor: Actor, now: datetime) -> Review | None:
    if isinstance(command, RequestChanges):
        return Review(outcome="changes_requested", by=actor, at=now, reason=command.reason)
    if command.type in ("confirm", "confirm_warranty"):
        return Review(outcome="confirmed", by=actor, at=now)
    if isinstance(command, ExpireDeadline):
        kind = next(d.kind for d in delivery.deadlines if d.deadline_id == command.deadline_id)
        if kind != DeadlineKind.REMINDER:
            return Review(outcome="auto_confirmed", by=actor, at=now)
    return None


def _merged(existing: list[str], added: list[str]) -> list[str]:
    """``existing`` then the new ones of ``added``, each id once (also if ``added`` repeats one)."""
    return list(dict.fromkeys([*existing, *added]))


def _resolved(
    dispute: Dispute, outcome: str, note: str | None, actor: Actor, now: datetime
) -> Dispute:
    return dispute.model_copy(
        update={
            "status": "resolved",
            "outcome": outcome,
            "note": note,
            "resolved_by": actor,
            "resolved_at": now,
        }
    )


def _paused(deadline: Deadline, now: datetime) -> Deadline:
    assert deadline.due_at is not None
    remaining = max(0.0, (deadline.due_at - now).total_seconds())
    return deadline.model_copy(
        update={"status": "paused", "due_at": None, "remaining_seconds": remaining}
    )


def _resumed(deadline: Deadline, now: datetime, deadline_id: str) -> Deadline:
    remaining = timedelta(seconds=deadline.remaining_seconds or 0.0)
    return deadline.model_copy(
        update={
            "deadline_id": deadline_id,
            "status": "active",
            "due_at": now + remaining,
            "remaining_seconds": None,
        }
    )


def _deadline_id(delivery: Delivery, version: int, kind: DeadlineKind) -> str:
    """Unique: one version opens or resumes at most one deadline of each kind."""
    return f"{delivery.delivery_id}:{version}:{kind}"


def _opened_deadlines(
    delivery: Delivery, state: State, version: int, now: datetime, policy: Policy
) -> list[Deadline]:
    opened = []
    for kind in PROCESSES[delivery.process].deadlines.get(state, ()):
        due_in = _due_in(delivery, kind, policy)
        if due_in is not None:
            opened.append(
                Deadline(
                    deadline_id=_deadline_id(delivery, version, kind),
                    kind=kind,
                    status="active",
                    due_at=now + due_in,
                )
            )
    return opened


def _due_in(delivery: Delivery, kind: DeadlineKind, policy: Policy) -> timedelta | None:
    if kind == DeadlineKind.CONFIRMATION_WINDOW:
        return policy.confirm_window
    if kind == DeadlineKind.REMINDER:
        # A reminder only makes sense if it comes before the automatic confirmation.
        lead = policy.confirm_window - policy.reminder_lead
        return lead if lead > timedelta(0) else None
    return timedelta(seconds=delivery.warranty_period_seconds or 0)


def _event(
    delivery: Delivery,
    event_type: str,
    command: Any,
    command_id: str,
    actor: Actor,
    now: datetime,
    from_state: State | None,
    details: Mapping[str, str],
) -> Event:
    summary = DeliverySummary(
        delivery_id=delivery.delivery_id,
        order_id=delivery.order_id,
        product_id=delivery.product_id,
        process=delivery.process,
        state=delivery.state,
        version=delivery.version,
        customer_id=delivery.customer_id,
        customer_email=delivery.customer_email,
        customer_name=delivery.contact.name if delivery.contact else None,
        isv_id=delivery.isv_id,
        isv_email=delivery.isv_email,
        deadlines=delivery.deadlines,
    )
    return Event(
        event_id=event_id_for(command_id),
        type=event_type,
        delivery_id=delivery.delivery_id,
        command_id=command_id,
        command=command.type,
        actor=actor,
        occurred_at=now,
        from_state=from_state,
        to_state=delivery.state,
        delivery=summary,
        data=dict(details),
    )
