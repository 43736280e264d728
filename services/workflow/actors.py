"""The workflow's dramatiq actor and the sweep that relays outboxes left behind by a crash."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from pydantic import ValidationError

from services.runtime.bootstrap import PoisonMessage, utc_now
from services.runtime.bus import event_message, publish
from services.runtime.collections import ATTACHMENTS, database, ensure_indexes, make_mongo
from services.runtime.deadline_book import DeadlineBook
from services.runtime.event_log import EventLog
from services.runtime.event_stream import EventStream
from services.runtime.logs import bind_ids
from services.runtime.scorecards import ScorecardBook
from services.workflow.apply import CommandApplier
from services.workflow.migrations import DeliveryMigrations
from services.workflow.relay import OutboxRelay
from services.workflow.store import DeliveryStore
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.contracts.public_events import (
    COMMAND_REJECTED,
    CommandRejected,
    CommandReply,
    public_event_of,
)
from shared.contracts.queues import APPLY_COMMAND_ACTOR, COMMANDS_QUEUE
from shared.domain.deadline_changes import Policy
from shared.domain.events import Event
from shared.domain.ids import rejection_id_for

log = logging.getLogger(__name__)

#: A delivery whose outbox is older than this is relayed by the sweep.
STALE_OUTBOX_AFTER = timedelta(seconds=5)
SWEEP_INTERVAL_SECONDS = 5.0


def policy_of(settings: Settings) -> Policy:
    """The engine's deadline policy from ``DC_CONFIRM_WINDOW`` and ``DC_REMINDER_LEAD``."""
    return Policy(confirm_window=settings.confirm_window, reminder_lead=settings.reminder_lead)


class Workflow:
    """Wires the applier to the database and broker, lazily inside dramatiq's event loop.

    Parameters:
      broker(RabbitmqBroker): Publishes the relayed events.
      settings(Settings): ``mongo_url``, ``mongo_db``, and the deadline policy.
    """

    def __init__(self, broker: RabbitmqBroker, settings: Settings):
        self.broker = broker
        self.settings = settings
        self.event_stream = EventStream(settings.amqp_url)
        self._applier: CommandApplier | None = None
        self._relay: OutboxRelay | None = None
        self._event_log: EventLog | None = None

    async def applier(self) -> CommandApplier:
        """The process's applier, made on first use: the client, the indexes and the one-off
        migrations (``DeliveryMigrations.flag_outboxes_stored_before_the_flag``,
        ``date_deliveries_stored_before_the_days``,
        ``place_deliveries_stored_before_the_lists`` and ``place_warranty_requests_anew``)
        come first.

        Raises:
          pymongo.errors.PyMongoError: The database is unreachable; the next call tries again.
        """
        if self._applier is None:
            db = database(make_mongo(self.settings), self.settings)
            await ensure_indexes(db)
            store = DeliveryStore(db)
            migrations = DeliveryMigrations(store)
            self._event_log = EventLog(db)
            await self._event_log.ensure_index()
            flagged = await migrations.flag_outboxes_stored_before_the_flag(utc_now())
            if flagged:
                log.info("flagged %d unrelayed outboxes stored before the flag", flagged)
            dated = await migrations.date_deliveries_stored_before_the_days(utc_now())
            if dated:
                log.info("dated %d deliveries stored before the day fields", dated)
            placed = await migrations.place_deliveries_stored_before_the_lists(utc_now())
            if placed:
                log.info("placed %d deliveries stored before the parties' lists", placed)
            moved = await migrations.place_warranty_requests_anew(utc_now())
            if moved:
                log.info("placed %d deliveries awaiting warranty service in the ISV's list", moved)
            self._relay = OutboxRelay(
                store, DeadlineBook(db), self.publish_event, ScorecardBook(db)
            )
            self._applier = CommandApplier(
                store,
                self._relay,
                db[ATTACHMENTS],
                policy_of(self.settings),
                announce=self.announce_outcome,
            )
        return self._applier

    async def publish_event(self, event: Event) -> None:
        """Publish ``event`` onto ``dc.notifications`` for the notifier, then record its public
        form in the stream of record (``event_log``) and publish it onto the exchange
        ``dc.events`` for marketplace systems; each publish waits for the broker's confirm.

        Raises:
          dramatiq.errors.ConnectionClosed: Either publish failed (the outbox keeps the event
            and relays it again; consumers deduplicate by ``event_id``).
        """
        await publish(self.broker, event_message(event))
        public = public_event_of(event)
        assert self._event_log is not None  # made with the applier, before any relay
        await self._event_log.record(public, utc_now())
        await asyncio.to_thread(self.event_stream.publish, public)

    async def announce_outcome(
        self, envelope: CommandEnvelope, status: str, reason: str | None, message: str | None
    ) -> None:
        """Tell the command's sender its outcome without HTTP: a refusal is announced as
        ``command.rejected`` on ``dc.events``, and a command naming ``reply_to`` gets its
        outcome there. Runs again if the command is redelivered, so at least once. A reply the
        broker refuses (a ``reply_to`` it will not route to, such as a forged
        ``amq.rabbitmq.reply-to.*`` name) is logged and dropped, not retried
        (:meth:`EventStream.reply`): the command is decided.

        Raises:
          dramatiq.errors.ConnectionClosed: A publish failed for want of the broker; the
            command message is retried and, being decided, only announced again.
        """
        if status == "rejected":
            rejected = CommandRejected(
                event_id=rejection_id_for(envelope.command_id),
                event_type=COMMAND_REJECTED,
                command_id=envelope.command_id,
                command=envelope.command.type,
                delivery_id=envelope.delivery_id,
                actor=envelope.actor,
                reason=reason or "rejected",
                message=message or "",
                occurred_at=utc_now(),
            )
            await asyncio.to_thread(self.event_stream.publish, rejected)
        if envelope.reply_to is not None:
            reply = CommandReply(
                command_id=envelope.command_id,
                delivery_id=envelope.delivery_id,
                type=envelope.command.type,
                status=status,
                reason=reason,
                message=message,
            )
            await asyncio.to_thread(self.event_stream.reply, envelope.reply_to, reply)

    async def apply_command(self, payload: dict[str, Any]) -> None:
        """The ``apply_command`` actor: apply one command message.

        Parameters:
          payload(dict): A ``CommandEnvelope`` in its JSON form (``shared/contracts``' JSON
            Schema describes it for publishers outside Python).

        Raises:
          PoisonMessage: The payload is not a valid envelope; dramatiq dead-letters it at
            once (the actor's ``throws`` option).
          Exception: Whatever :meth:`CommandApplier.apply` raises; dramatiq retries.
        """
        try:
            envelope = CommandEnvelope.model_validate(payload)
        except ValidationError as error:
            raise PoisonMessage(f"invalid command envelope: {error}") from error
        with bind_ids(delivery_id=envelope.delivery_id, command_id=envelope.command_id):
            await (await self.applier()).apply(envelope)

    async def sweep_outboxes(self) -> int:
        """Relay the outboxes of deliveries whose own relay did not finish; returns how many.

        Another process's sweep may relay the same outbox at the same time: consumers dedupe
        events by id and deadlines by id and version, so that costs only the duplicates.
        """
        applier = await self.applier()
        assert self._relay is not None
        pending = await applier.store.with_pending_outbox(utc_now() - STALE_OUTBOX_AFTER, limit=500)
        for document in pending:
            # The lock only spares relaying what this process's own command is relaying.
            async with applier.locks.hold(document["_id"]):
                # Read again: a command may have relayed it meanwhile.
                stored = await applier.store.load(document["_id"])
                if stored is not None and stored.outbox:
                    await self._relay.relay(document["_id"], stored.outbox)
                elif stored is not None:
                    # Relayed, but its relay stopped before lowering the flag.
                    await applier.store.lower_outbox_flag(document["_id"])
        return len(pending)


def register(broker: RabbitmqBroker, settings: Settings) -> Workflow:
    """Declare the ``apply_command`` actor on ``dc.commands`` with ``broker``.

    Parameters:
      broker(RabbitmqBroker): As from ``bootstrap.make_broker``.
      settings(Settings): Passed to the :class:`Workflow`.

    Returns:
      Workflow: Its :meth:`Workflow.sweep_outboxes` is for the caller to run periodically.

    Raises:
      ValueError: An actor of that name is registered on ``broker`` already (dramatiq).
    """
    workflow = Workflow(broker, settings)
    dramatiq.Actor(
        workflow.apply_command,
        broker=broker,
        actor_name=APPLY_COMMAND_ACTOR,
        queue_name=COMMANDS_QUEUE,
        priority=0,
        options={"throws": (PoisonMessage,)},
    )
    return workflow
