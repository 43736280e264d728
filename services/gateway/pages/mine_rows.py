"""The rows of a party's list (GET /me, ``pages.mine``): a delivery's "by when", the order
of what waits for the reader (overdue first, then the soonest deadline, then the longest
waiting), how many are overdue, and one row as the template shows it, in the delivery page's
words with a link signed for the reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from services.gateway.context import Gateway
from services.gateway.pages.admin import overdue
from services.gateway.pages.words import dispute_open, turn_words
from services.runtime.links import page_path, sign_link
from services.runtime.list_links import ListLink
from services.runtime.party_lists import DONE, YOURS
from shared.domain.actions import Situation, next_step
from shared.domain.delivery import PARTY_DEADLINE_KINDS, SHOWN_DEADLINE_STATUSES
from shared.domain.states import ProcessName, State
from shared.wording import PROCESS_LABELS, STATE_LABELS, deadline_words, label, when_relative
from shared.wording.lists import FINISHED, NO_DEADLINE, warranty_request_words


def due_deadline(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """A stored delivery's "by when": the soonest running deadline a party is told of
    (``PARTY_DEADLINE_KINDS``), else one of them paused by a dispute, else None."""
    shown = [
        d
        for d in document.get("deadlines", [])
        if d.get("kind") in PARTY_DEADLINE_KINDS and d.get("status") in SHOWN_DEADLINE_STATUSES
    ]
    running = [d for d in shown if d.get("status") == "active" and d.get("due_at") is not None]
    if running:
        return min(running, key=lambda d: d["due_at"])
    return shown[0] if shown else None


def urgency(document: Mapping[str, Any], now: datetime, patience: timedelta) -> tuple:
    """How a delivery waiting for the reader sorts among the others (smallest first): overdue
    ones first (``pages.admin.overdue``), then by the soonest running deadline, those without
    one last, then the longest waiting (oldest last change) first; the id breaks ties."""
    late = overdue(dict(document), now, patience) is not None
    deadline = due_deadline(document)
    due = deadline.get("due_at") if deadline and deadline.get("status") == "active" else None
    return (not late, due is None, due or now, document["updated_at"], document["_id"])


def order_waiting(
    documents: Iterable[Mapping[str, Any]], now: datetime, patience: timedelta
) -> list[Mapping[str, Any]]:
    """What waits for the reader in the list's order (:func:`urgency`)."""
    return sorted(documents, key=lambda document: urgency(document, now, patience))


def count_overdue(
    documents: Iterable[Mapping[str, Any]], now: datetime, patience: timedelta
) -> int:
    """How many of ``documents`` are overdue (``pages.admin.overdue``)."""
    return sum(overdue(dict(d), now, patience) is not None for d in documents)


def row_view(
    group: str,
    document: Mapping[str, Any],
    link: ListLink,
    gateway: Gateway,
    now: datetime,
) -> dict[str, Any]:
    """One row as the template shows it: the delivery, what happens now in the delivery page's
    words (``words.turn_words``; while the customer's warranty request awaits the ISV, when it
    was asked and its words, ``lists.warranty_request_words``), its "by when"
    (``shared.wording.deadline_words``), whether it is overdue (``admin.overdue``), and a link
    to its page signed for the reader (with the next step's form ready when it waits for them,
    as the emails' links are)."""
    role, party = link.role, link.party_id
    delivery_id, state = document["_id"], document["state"]
    if group == DONE:
        what = label(FINISHED, state).format(at=when_relative(document["updated_at"], now))
    elif Situation.of_document(document).warranty_service_requested:
        request = document["warranty_requests"][-1]
        at = when_relative(request["at"], now)
        what = warranty_request_words(role, at, request["description"])
    else:
        what, _mine = turn_words(dict(document), role)
    deadline = due_deadline(document)
    due = deadline_words(deadline, role, now) if deadline else None
    action = None
    if group == YOURS and not dispute_open(document):
        action = next_step(ProcessName(document["process"]), State(state), role)
    token = sign_link(gateway.settings, delivery_id, party, role)
    return {
        "id": delivery_id,
        "order_id": document["order_id"],
        "product_id": document["product_id"],
        "process": label(PROCESS_LABELS, document["process"]),
        "state": state,
        "state_label": label(STATE_LABELS, state),
        "what": what,
        "due_label": due.label if due else None,
        "due_value": due.value if due else NO_DEADLINE,
        "due_sentence": due.sentence if due else None,
        "overdue": overdue(dict(document), now, gateway.settings.confirm_window),
        "dispute": dispute_open(document),
        "updated": when_relative(document["updated_at"], now),
        "href": page_path(delivery_id, token, action),
    }
