"""The engine: (delivery, command, actor, now) -> a refusal, or the new delivery and what it caused.

Pure: no I/O and no clock of its own. It reads the process tables in ``processes``;
nothing here knows a particular process. Why a command is refused is ``refusals``, how
deadlines change is ``deadline_changes``, the ids it derives are ``ids``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.commands import (
    Command,
    DeliveryCommand,
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
from shared.domain.deadline_changes import (
    Policy,
    opened_deadlines,
    paused_deadline,
    resumed_deadline,
)
from shared.domain.delivery import (
    READER_FIELDS,
    Deadline,
    Delivery,
    Dispute,
    HistoryEntry,
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
from shared.domain.files import FileFacts
from shared.domain.ids import ID_NAMESPACE, deadline_id_for, delivery_id_for, event_id_for
from shared.domain.processes import PROCESSES, Row
from shared.domain.refusals import Reason, Refused, matching_row, refusal_entry, refusal_of
from shared.domain.roles import Actor, Role
from shared.domain.states import DeadlineKind, ProcessName, State

__all__ = [
    "ID_NAMESPACE",
    "Applied",
    "Decision",
    "Policy",
    "Reason",
    "Refused",
    "decide",
    "delivery_id_for",
    "event_id_for",
    "open_delivery",
    "refusal_entry",
]


@dataclass(frozen=True)
class Applied:
    """A command the engine applied: the delivery as it is now, the events it caused."""

    delivery: Delivery
    events: tuple[Event, ...]
    #: Every deadline opened, paused, resumed, cancelled or fired, in its new form.
    deadline_changes: tuple[Deadline, ...] = field(default=())


Decision = Applied | Refused


def open_delivery(
    command: OpenDelivery, actor: Actor, *, command_id: str, now: datetime
) -> Decision:
    """A new delivery for a paid order, in ``awaiting_demand`` (the seed: the marketplace
    opens it), or why not.

    Parameters:
      command(OpenDelivery): The order's facts; the delivery id is ``delivery_id_for(order_id)``.
      actor(Actor): Must be the marketplace or an admin (the brief's roles table).
      command_id(str): Recorded in the history; the event id derives from it.
      now(datetime): Aware UTC; the opening time.

    Returns:
      Decision: ``Applied`` at version 1 with one ``delivery_opened`` event and no deadline,
      or ``Refused`` with ``role_not_allowed``, or ``warranty_period_required`` for a
      ``double_check`` delivery without ``warranty_period``.
    """
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
        **{field: getattr(command, field) for field in READER_FIELDS},
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
    command: Command,
    actor: Actor,
    *,
    command_id: str,
    now: datetime,
    policy: Policy,
    files: Mapping[str, FileFacts] | None = None,
) -> Decision:
    """Apply ``command`` by ``actor`` to ``delivery`` at ``now``, or say why not.

    The rules are the brief's (roles, processes, disputes, deadlines) as the tables in
    ``processes`` hold them; refusals are checked by ``refusals.refusal_of``.

    Parameters:
      delivery(Delivery): The delivery as stored.
      command(Command): Any command; ``open_delivery`` is refused (``already_open``).
      actor(Actor): Who sent it.
      command_id(str): Recorded in the history; the event id derives from it.
      now(datetime): Aware UTC; new deadlines are due ``now`` plus their duration.
      policy(Policy): The confirmation window and reminder lead.
      files(Mapping[str, FileFacts] | None): What is known of the attachments the command
        names, by attachment id; one missing is refused as ``unknown_attachment``.

    Returns:
      Decision: ``Applied`` (version + 1, one event, the deadline changes) or ``Refused``
      (a ``Reason`` code and a sentence). Never raises for a refusal.
    """
    if isinstance(command, OpenDelivery):
        return Refused(Reason.ALREADY_OPEN, f"order {delivery.order_id} already has this delivery")
    refusal = refusal_of(delivery, command, actor, files or {})
    if refusal is not None:
        return refusal
    return _apply(delivery, command, actor, command_id, now, policy)


# --- applying -------------------------------------------------------------------------------


def _apply(
    delivery: Delivery,
    command: DeliveryCommand,
    actor: Actor,
    command_id: str,
    now: datetime,
    policy: Policy,
) -> Applied:
    version = delivery.version + 1
    changes: dict[str, Any] = {}
    deadline_changes: list[Deadline] = []
    deadlines = list(delivery.deadlines)
    details: dict[str, str] = {}
    event_type = EVENT_TYPE_OF_COMMAND.get(command.type, "")

    match command:
        case Terminate():
            to_state = State.TERMINATED
            details["reason"] = command.reason
            if delivery.dispute is not None and delivery.dispute_open:
                changes["dispute"] = _resolved(
                    delivery.dispute, "terminate", command.reason, actor, now
                )
        case OpenDispute():
            to_state = delivery.state
            details["reason"] = command.reason
            changes["dispute"] = Dispute(
                status="open", opened_by=actor, reason=command.reason, opened_at=now
            )
            deadlines = [paused_deadline(d, now) if d.status == "active" else d for d in deadlines]
            deadline_changes = [d for d in deadlines if d.status == "paused"]
        case ResolveDispute():
            assert delivery.dispute is not None
            details["outcome"] = command.outcome
            if command.note:
                details["note"] = command.note
            changes["dispute"] = _resolved(
                delivery.dispute, command.outcome, command.note, actor, now
            )
            if command.outcome == "terminate":
                to_state = State.TERMINATED
            else:
                to_state = delivery.state
                # A resumed deadline is a new run of the timer under a new id, and the paused run is
                # cancelled: a firing of the old run (in flight, or refused while the dispute was
                # open and so recorded under its command id) can neither fire it early nor block it.
                paused = [d for d in deadlines if d.status == "paused"]
                resumed = [
                    resumed_deadline(d, now, deadline_id_for(delivery.delivery_id, version, d.kind))
                    for d in paused
                ]
                deadlines = [d for d in deadlines if d.status != "paused"] + resumed
                deadline_changes = [d.model_copy(update={"status": "cancelled"}) for d in paused]
                deadline_changes += resumed
        case _:
            process = PROCESSES[delivery.process]
            row = matching_row(process, delivery, command, actor)
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
        deadlines = opened_deadlines(delivery, to_state, version, now, policy)
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
    delivery: Delivery,
    command: DeliveryCommand,
    actor: Actor,
    now: datetime,
    details: dict[str, str],
) -> dict[str, Any]:
    """What the command adds to the delivery's records besides its state."""
    match command:
        case SubmitDemand():
            return {
                "contact": command.contact,
                "demands": command.demands,
                "attachments": _merged(delivery.attachments, command.attachments),
            }
        case UploadContract():
            return {"contract": command.attachment}
        case Finish():
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
        case RequestWarrantyService():
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


def _review_of(
    delivery: Delivery, command: DeliveryCommand, actor: Actor, now: datetime
) -> Review | None:
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


def _event(
    delivery: Delivery,
    event_type: str,
    command: Command,
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
        **{field: getattr(delivery, field) for field in READER_FIELDS},
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
