"""Why a command is refused: the checks the engine makes before applying one, each answering
a stable reason code and a sentence (or nothing when the command may go on)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.domain.commands import Command, DeliveryCommand, ExpireDeadline, UploadContract
from shared.domain.delivery import Deadline, Delivery, RefusedEntry
from shared.domain.files import FileFacts, contract_problem
from shared.domain.processes import DISPUTE_NEEDED, GLOBAL_COMMANDS, PROCESSES, Process, Row
from shared.domain.roles import Actor, Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind


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
class Refused:
    """A command the engine did not apply: why, as a stable ``code`` and a sentence."""

    code: Reason
    message: str


def refusal_entry(
    delivery: Delivery,
    command: Command,
    actor: Actor,
    refused: Refused,
    *,
    command_id: str,
    now: datetime,
) -> RefusedEntry:
    """The record a refused command leaves in ``delivery``'s refusals, so that a redelivered
    command answers the same refusal."""
    return RefusedEntry(
        command_id=command_id,
        command=command.type,
        actor=actor,
        at=now,
        state=delivery.state,
        code=refused.code.value,
        message=refused.message,
    )


def refusal_of(
    delivery: Delivery, command: DeliveryCommand, actor: Actor, files: Mapping[str, FileFacts]
) -> Refused | None:
    """Why ``command`` by ``actor`` may not be applied to ``delivery`` now, or None.

    Checked in this order: a terminal state, a caller who is no party, a global command's
    rules (``terminate``, disputes: the brief's "Disputes"), an open dispute, a command
    outside the process or its state, an attachment not of this delivery or a contract file
    of the wrong type or size.

    Parameters:
      delivery(Delivery): The delivery as stored.
      command(DeliveryCommand): Any command but ``open_delivery``.
      actor(Actor): Who sent it.
      files(Mapping[str, FileFacts]): Facts of the attachments the command names, by id.

    Returns:
      Refused | None: The first refusal found, with its stable ``Reason`` code.
    """
    kind = command.type
    if delivery.state in TERMINAL_STATES:
        return Refused(
            Reason.TERMINAL_STATE, f"the delivery is {delivery.state} and takes no more commands"
        )
    if actor.role in (Role.CUSTOMER, Role.ISV) and actor.id != delivery.party_id_of(actor.role):
        return Refused(
            Reason.NOT_A_PARTY, f"{actor.role} {actor.id} is not a party of this delivery"
        )
    if kind in GLOBAL_COMMANDS:
        return _global_refusal(delivery, kind, actor)
    if delivery.dispute_open:
        return Refused(
            Reason.DISPUTE_OPEN, "a dispute is open: only an admin may act until it is resolved"
        )
    process = PROCESSES[delivery.process]
    if kind not in process.commands:
        return Refused(Reason.NOT_IN_PROCESS, f"{kind} is not a step of the {process.name} process")
    row_or_refusal = matching_row(process, delivery, command, actor)
    if isinstance(row_or_refusal, Refused):
        return row_or_refusal
    return _attachment_refusal(delivery, command, files)


def _global_refusal(delivery: Delivery, kind: str, actor: Actor) -> Refused | None:
    if actor.role not in GLOBAL_COMMANDS[kind]:
        allowed = " or ".join(sorted(GLOBAL_COMMANDS[kind]))
        return Refused(Reason.ROLE_NOT_ALLOWED, f"only the {allowed} may {kind}")
    needed = DISPUTE_NEEDED[kind]
    if needed is False and delivery.dispute_open:
        return Refused(Reason.DISPUTE_ALREADY_OPEN, "a dispute is already open on this delivery")
    if needed is True and not delivery.dispute_open:
        return Refused(Reason.NO_OPEN_DISPUTE, "there is no open dispute to resolve")
    return None


def matching_row(
    process: Process, delivery: Delivery, command: DeliveryCommand, actor: Actor
) -> Row | Refused:
    """The process table's row that ``command`` by ``actor`` follows in ``delivery``'s
    state, or why there is none (the role is checked before the state)."""
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
    delivery: Delivery, command: DeliveryCommand, files: Mapping[str, FileFacts]
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
