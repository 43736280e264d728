"""The ids the domain derives, the same on every run: a delivery's from its order, an event's
from its command, a deadline's from its delivery, version and kind (UUID v5, RFC 9562 §5.5)."""

from __future__ import annotations

import uuid

from shared.domain.states import DeadlineKind

#: Namespace of the ids the engine derives (deliveries from orders, events from commands).
ID_NAMESPACE = uuid.UUID("6f1d7d3e-5a4b-4c1e-9a59-2f0c8f7b9d10")


def delivery_id_for(order_id: str) -> str:
    """The same order always gets the same delivery id: 32 lowercase hex digits, the UUID v5
    of ``"order:" + order_id`` in :data:`ID_NAMESPACE` (the bus schemas tell publishers so)."""
    return uuid.uuid5(ID_NAMESPACE, f"order:{order_id}").hex


def event_id_for(command_id: str) -> str:
    """The one event a command causes has an id derived from the command's: 32 hex digits."""
    return uuid.uuid5(ID_NAMESPACE, f"event:{command_id}").hex


def deadline_id_for(delivery_id: str, version: int, kind: DeadlineKind) -> str:
    """``<delivery_id>:<version>:<kind>``; unique, since one version of a delivery opens or
    resumes at most one deadline of each kind."""
    return f"{delivery_id}:{version}:{kind}"
