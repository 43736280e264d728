"""Who acts: the four outside roles and the system's own clock."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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

    id: str = Field(min_length=1, max_length=200)
    role: Role
