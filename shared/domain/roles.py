"""Who acts: the four outside roles and the system's own clock."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic_core import PydanticCustomError

#: The longest id a party may have (a token's ``sub``, a link's party).
MAX_ACTOR_ID = 200
#: Ids no URL path can carry: RFC 3986 §5.2.4 removes the dot segments ``.`` and ``..`` (and
#: browsers decode ``%2E%2E`` first), so no browser could reach ``/admin/scorecards/..`` or
#: ``/v1/isvs/../scorecard``. A party, a token's ``sub`` or a link's party is never one.
DOT_SEGMENTS = frozenset({".", ".."})
#: Control characters (Unicode category Cc: C0, DEL and C1), which no id may hold: a range of
#: a regular expression's character class, written with escapes (Python's and ECMA-262's).
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
#: The rule of :data:`ActorId` in words, for refusals.
ACTOR_ID_RULE = (
    f"1 to {MAX_ACTOR_ID} characters without control characters, and neither '.' nor '..'"
)
#: Why a dot segment is refused, in words.
DOT_SEGMENT_RULE = (
    "may not be '.' or '..': no browser could reach its pages (RFC 3986 removes such path segments)"
)


def actor_id_problem(value: object) -> str | None:
    """What is wrong with ``value`` as an actor's id (:data:`ACTOR_ID_RULE`), None if nothing:
    a string of 1 to :data:`MAX_ACTOR_ID` characters, without control characters, other than
    the dot segments ``.`` and ``..``."""
    if not isinstance(value, str):
        return f"an id is a string of {ACTOR_ID_RULE}"
    if not 1 <= len(value) <= MAX_ACTOR_ID:
        return f"an id is {ACTOR_ID_RULE}; this one has {len(value)}"
    if _CONTROL.search(value):
        return f"an id is {ACTOR_ID_RULE}; this one has a control character"
    if value in DOT_SEGMENTS:
        return f"an id {DOT_SEGMENT_RULE}"
    return None


def is_actor_id(value: object) -> bool:
    """Whether ``value`` follows :data:`ACTOR_ID_RULE` (a token's ``sub``, a link's party, an
    ISV id in a path)."""
    return actor_id_problem(value) is None


def _actor_id(value: str) -> str:
    problem = actor_id_problem(value)
    if problem is not None:
        raise PydanticCustomError("actor_id", problem)
    return value


def not_dot_segment(value: str) -> str:
    """``value``, refused (pydantic's ``value_error``) when it is ``.`` or ``..``
    (:data:`DOT_SEGMENTS`): for ids that end up in a URL path."""
    if value in DOT_SEGMENTS:
        raise PydanticCustomError("dot_segment", f"an id {DOT_SEGMENT_RULE}")
    return value


#: JSON Schema of "neither ``.`` nor ``..``", added to the schema of an id in a path.
NOT_DOT_SEGMENT_SCHEMA = {"not": {"enum": sorted(DOT_SEGMENTS)}}
#: An actor's id: :data:`ACTOR_ID_RULE`.
ActorId = Annotated[
    str,
    AfterValidator(_actor_id),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ACTOR_ID,
            "pattern": f"^[^{CONTROL_CHARACTERS}]*$",
            **NOT_DOT_SEGMENT_SCHEMA,
        }
    ),
]


class Role(StrEnum):
    """Who a party is: the four roles a token's ``role`` claim may carry, and ``system``."""

    MARKETPLACE = "marketplace"
    CUSTOMER = "customer"
    ISV = "isv"
    ADMIN = "admin"
    #: The timer worker, firing deadlines; never carried by a token.
    SYSTEM = "system"


class Actor(BaseModel):
    """The party behind a command: its id (a token's ``sub``) and role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: ActorId
    role: Role
