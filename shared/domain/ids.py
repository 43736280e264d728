"""The ids the domain derives, the same on every run: a delivery's from its order, an event's
from its command, a deadline's from its delivery, version and kind (UUID v5, RFC 9562 §5.5)."""

from __future__ import annotations

import re
import uuid

from shared.domain.states import DeadlineKind

#: A delivery's or an attachment's id: 32 lowercase hex digits (a UUID's hex form).
HEX_ID_PATTERN = r"^[a-f0-9]{32}$"
#: The characters of a command id a sender chooses (it is also an ``Idempotency-Key``), and
#: its length in characters.
COMMAND_ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
COMMAND_ID_MAX_LENGTH = 200

_HEX_ID = re.compile(HEX_ID_PATTERN)
_COMMAND_ID = re.compile(COMMAND_ID_PATTERN)


def is_hex_id(text: str) -> bool:
    """Whether ``text`` is a delivery or attachment id (:data:`HEX_ID_PATTERN`)."""
    return _HEX_ID.fullmatch(text) is not None


def is_command_id(text: str) -> bool:
    """Whether ``text`` is a well-formed command id: 1 to :data:`COMMAND_ID_MAX_LENGTH`
    characters of :data:`COMMAND_ID_PATTERN`."""
    return len(text) <= COMMAND_ID_MAX_LENGTH and _COMMAND_ID.fullmatch(text) is not None


#: Namespace of the ids the engine derives (deliveries from orders, events from commands).
ID_NAMESPACE = uuid.UUID("6f1d7d3e-5a4b-4c1e-9a59-2f0c8f7b9d10")


def delivery_id_for(order_id: str) -> str:
    """The same order always gets the same delivery id: 32 lowercase hex digits, the UUID v5
    of ``"order:" + order_id`` in :data:`ID_NAMESPACE` (the bus schemas tell publishers so)."""
    return uuid.uuid5(ID_NAMESPACE, f"order:{order_id}").hex


def event_id_for(command_id: str) -> str:
    """The one event a command causes has an id derived from the command's: 32 hex digits."""
    return uuid.uuid5(ID_NAMESPACE, f"event:{command_id}").hex


def rejection_id_for(command_id: str) -> str:
    """The id of the ``command.rejected`` event of a refused command: 32 hex digits, the
    same however often the refusal is announced."""
    return uuid.uuid5(ID_NAMESPACE, f"rejected:{command_id}").hex


def deadline_id_for(delivery_id: str, version: int, kind: DeadlineKind) -> str:
    """``<delivery_id>:<version>:<kind>``; unique, since one version of a delivery opens or
    resumes at most one deadline of each kind."""
    return f"{delivery_id}:{version}:{kind}"
