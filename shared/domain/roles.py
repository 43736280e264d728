"""Who acts: the four outside roles and the system's own clock."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: The longest id a party may have (a token's ``sub``, a link's party).
MAX_ACTOR_ID = 200
#: An actor's id: 1 to :data:`MAX_ACTOR_ID` characters.
ActorId = Annotated[str, Field(min_length=1, max_length=MAX_ACTOR_ID)]
#: The rule of :data:`ActorId` in words, for refusals.
ACTOR_ID_RULE = f"1 to {MAX_ACTOR_ID} characters"


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
