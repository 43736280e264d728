"""The pages' words: steps, turns, deadlines, actions, who did what (tables: shared/wording)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.runtime.links import Link
from shared import wording
from shared.domain.actions import Situation, actions, ever_sendable, whose_turn
from shared.domain.processes import PROCESSES
from shared.domain.roles import Role
from shared.domain.states import ProcessName, State
from shared.wording import (
    ACTIONS,
    NAMED,
    ROLE_NAMES,
    STATE_LABELS,
    awaited_words,
    label,
    task_words,
    your_turn,
)
from shared.wording.reader import N_, Words

#: A dispute's status, in the heading of its section ("Dispute (open)").
DISPUTE_STATUSES: Mapping[str, str] = Words({"open": N_("open"), "resolved": N_("resolved")})


def deadline_words(deadline: dict[str, Any], role: str, now: datetime) -> str:
    """A deadline document (``kind``, ``status``, ``due_at`` or ``remaining_seconds``) as
    ``role`` reads it: what happens, when, and who can prevent it (``shared.wording``)."""
    return wording.deadline_words(deadline, Role(role), now).sentence


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The process as a row of steps: its mandatory states, then ``completed`` (or
    ``terminated`` where it stopped), each ``done``, ``current`` or ``todo``."""
    process = PROCESSES[ProcessName(document["process"])]
    state = document["state"]
    names = [s.value for s in process.mandatory] + [State.COMPLETED.value]
    reached = {entry.get("to_state") for entry in document.get("history", [])}
    if state == State.TERMINATED:
        steps = [
            {"state": s, "label": STATE_LABELS[s], "status": "done" if s in reached else "todo"}
            for s in names[:-1]
        ]
        return [*steps, {"state": state, "label": STATE_LABELS[state], "status": "current"}]
    current = names.index(state) if state in names else -1
    return [
        {
            "state": s,
            "label": STATE_LABELS[s],
            "status": "current" if i == current else "done" if i < current else "todo",
        }
        for i, s in enumerate(names)
    ]


def dispute_open(document: dict[str, Any]) -> bool:
    """Whether a stored delivery has a dispute open: ``shared.domain.delivery.Delivery``'s
    ``dispute_open`` read on the stored document. Not by building a ``Delivery``: the admin
    list reads up to 500 documents without their records (``LIST_PROJECTION``), which the
    model requires, and validating each only to read one field would cost more than the page."""
    return (document.get("dispute") or {}).get("status") == "open"


def situation_of(document: dict[str, Any]) -> Situation:
    """A stored delivery's process, state, open dispute and awaited warranty service, for
    ``shared.domain.actions`` (``Situation.of_document``).

    Raises ``KeyError`` without ``process`` or ``state``, ``ValueError`` for unknown ones."""
    return Situation.of_document(document)


def available_actions(document: dict[str, Any], role: Role) -> list[str]:
    """What ``role`` may do now on a stored delivery, in the order the page lists them
    (``shared.domain.actions.actions``)."""
    return list(actions(situation_of(document), role))


def action_view(kind: str) -> dict[str, str]:
    """An action's form: its words, and a fresh nonce that makes a form sent twice one
    command."""
    title, button = ACTIONS[kind]
    return {"type": kind, "title": title, "button": button, "nonce": uuid.uuid4().hex}


def sendable(role: Role) -> frozenset[str]:
    """Every command ``role`` could ever send from a page; anything else is refused at once
    (``shared.domain.actions.ever_sendable``)."""
    return ever_sendable(role)


def turn_words(document: dict[str, Any], role: Role) -> tuple[str, bool]:
    """What happens now, for this viewer, in the reader's language (text, made now); True
    when it is the viewer's turn (``shared.domain.actions.whose_turn``)."""
    situation = situation_of(document)
    if situation.state == State.COMPLETED:
        return str(wording.COMPLETED_NOTE), False
    if situation.state == State.TERMINATED:
        return str(wording.TERMINATED_NOTE), False
    actors = whose_turn(situation)
    if situation.dispute_open:
        if role in actors:
            return wording.DISPUTE_NOTE.format(task=wording.RESOLVE_DISPUTE_TASK), True
        return wording.DISPUTE_WAIT_NOTE.format(rule=wording.DISPUTE_RULE), False
    service = situation.warranty_service_requested
    if role in actors:
        return your_turn(task_words(situation.state, warranty_service=service)), True
    waiting = wording.OR.join(sorted(ROLE_NAMES[a] for a in actors)) or ROLE_NAMES[Role.SYSTEM]
    what = awaited_words(situation.state, warranty_service=service)
    return wording.WAITING_NOTE.format(who=waiting, what=what), False


def who(actor: dict[str, Any] | None, viewer: Link) -> str:
    """Who did something, as ``viewer`` reads it: "you", "someone" (no actor), the role's
    name for the system and admins, else the role's name and the party's id.

    Parameters:
      actor(dict | None): A stored actor, ``{role, id}``.
      viewer(Link): The page's link: its role and party are "you".
    """
    if not actor:
        return wording.SOMEONE
    if actor.get("role") == viewer.role and actor.get("id") == viewer.party_id:
        return wording.YOU
    role = actor.get("role", "")
    name = label(ROLE_NAMES, role)
    return (
        name
        if role in (Role.SYSTEM, Role.ADMIN)
        else NAMED.format(label=name, value=actor.get("id"))
    )
