"""The bodies that travel on the queues: each the single argument of its dramatiq message."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.domain.commands import Command
from shared.domain.ids import COMMAND_ID_MAX_LENGTH, COMMAND_ID_PATTERN, HEX_ID_PATTERN
from shared.domain.roles import Actor

CommandId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=COMMAND_ID_MAX_LENGTH, pattern=COMMAND_ID_PATTERN),
]

#: A RabbitMQ queue name to reply to (AMQP short string: at most 255 bytes); server-named
#: queues (``amq.gen-…``) are allowed.
ReplyQueue = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:-]+$")
]


class CommandEnvelope(BaseModel):
    """A command addressed to one delivery, with who sent it and its id.

    The ``command_id`` makes the command idempotent: the workflow applies one id once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: CommandId
    delivery_id: Annotated[str, StringConstraints(pattern=HEX_ID_PATTERN)]
    actor: Actor
    issued_at: datetime
    command: Command = Field(discriminator="type")
    reply_to: ReplyQueue | None = Field(
        default=None,
        description=(
            "A queue to send the command's outcome to (applied, or rejected with a reason), "
            "with correlation_id = command_id: RabbitMQ's RPC convention. Omit it to read the "
            "outcome from GET /v1/commands/{command_id} or the command.rejected event."
        ),
    )
