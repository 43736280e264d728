"""A command's status: the read of its record and outcome, who may read it, and the route
``GET /v1/commands/{command_id}``. The delivery page's notice of a pressed button
(``pages.view.outcome_of``) reads and checks the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.context import PARTIES_ONLY, caller, gateway_of, may_see
from services.gateway.contracts import CALLER_ERRORS, Reply, documented, error, parameter
from services.gateway.errors import HttpError
from services.gateway.models import CommandOutcome, json_answer
from services.runtime.collections import COMMAND_OUTCOMES, COMMANDS, DELIVERIES
from shared.domain.roles import Actor, Role

routes = web.RouteTableDef()


@dataclass(frozen=True)
class CommandRecord:
    """What is known of a command: its record (``COMMANDS``, written when it was accepted
    over HTTP; without ``body_hash``) and its outcome (``COMMAND_OUTCOMES``, written when the
    workflow decided it); at least one of the two is there."""

    command_id: str
    record: Mapping[str, Any] | None
    outcome: Mapping[str, Any] | None

    @property
    def known(self) -> Mapping[str, Any]:
        """The record, or the outcome of a command from the bus: ``delivery_id``, ``type``,
        ``actor``."""
        return self.record or self.outcome or {}

    @property
    def sender(self) -> Mapping[str, Any]:
        """Who sent it: ``{id, role}`` as stored, ``{}`` if not recorded."""
        return self.known.get("actor") or {}


async def read_command(db: AsyncDatabase, command_id: str) -> CommandRecord | None:
    """What is known of ``command_id``, or None: one published on the bus has neither record
    nor outcome until the workflow has decided it."""
    record = await db[COMMANDS].find_one({"_id": command_id}, {"body_hash": 0})
    outcome = await db[COMMAND_OUTCOMES].find_one({"_id": command_id})
    if record is None and outcome is None:
        return None
    return CommandRecord(command_id, record, outcome)


def sent_by(actor: Actor, sender: Mapping[str, Any]) -> bool:
    """Whether ``actor`` may read a command ``sender`` (``{id, role}``) sent: an admin reads
    every command, anyone else those they sent."""
    return actor.role == Role.ADMIN or (sender.get("id"), sender.get("role")) == (
        actor.id,
        actor.role,
    )


def may_read_command(
    actor: Actor, sender: Mapping[str, Any], opened: Mapping[str, Any] | None = None
) -> bool:
    """A command's status is its sender's and an admin's to read (:func:`sent_by`); an open's
    (``opened``: the order it opens, or its delivery) also everyone's who may see that
    delivery (``may_see``: any marketplace, its customer and ISV), so the ``Location`` of
    every 202 for an order, whoever repeated it, can be followed."""
    if opened is not None and may_see(actor, opened):
        return True
    return sent_by(actor, sender)


@routes.get("/v1/commands/{command_id}")
@documented(
    "A command's outcome: accepted, applied or rejected with reason",
    parameters=(parameter("command_id", "path"),),
    responses={
        200: Reply("the outcome so far", CommandOutcome),
        404: error("no such command sent by the caller"),
        **CALLER_ERRORS,
    },
)
async def get_command(request: web.Request) -> web.Response:
    """200 :class:`~services.gateway.models.CommandOutcome` to who may read the command
    (:func:`may_read_command`), else 404 ``not_found``."""
    actor = caller(request)
    command_id = request.match_info["command_id"]
    db = gateway_of(request).db
    # Commands sent over HTTP have a record; those from the bus only an outcome.
    command = await read_command(db, command_id)
    opened = None
    if command is not None and command.known.get("type") == "open_delivery":
        opened = (command.record or {}).get("order") or await db[DELIVERIES].find_one(
            {"_id": command.known["delivery_id"]}, PARTIES_ONLY
        )
    if command is None or not may_read_command(actor, command.sender, opened):
        # A command published on the bus has no record until the workflow has decided it.
        raise HttpError(
            404,
            "not_found",
            f"no command {command_id} sent by this caller; one published on the bus "
            "shows here once the workflow has decided it",
        )
    return json_answer(CommandOutcome.of(command_id, command.known, command.outcome))
