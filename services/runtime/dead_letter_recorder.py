"""Why a message was dead-lettered: RabbitMQ moves the message as it was delivered, so the
error is recorded beside it, in MongoDB, by a dramatiq middleware."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from dramatiq import Middleware
from pymongo import MongoClient

from services.runtime.collections import DEAD_LETTERS, make_sync_mongo
from shared.config import Settings

log = logging.getLogger(__name__)


class DeadLetterRecorder(Middleware):
    """Records each message that fails for good (retries exhausted, or a poison message).

    A dramatiq middleware: it must come before ``Retries`` in the broker's list, since
    dramatiq runs "after" hooks in reverse order and ``message.failed`` is set by Retries.

    Parameters:
      settings(Settings): ``mongo_url`` and ``mongo_db`` locate :data:`DEAD_LETTERS`; the
        (synchronous) client is made on the first dead letter.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: MongoClient | None = None

    def after_process_message(
        self,
        broker: Any,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Upsert ``{_id: message_id, queue, actor, error, traceback, retries, failed_at}``.

        ``error`` is cut to 2,000 characters and ``traceback`` to its last 8,000. Does
        nothing unless the message failed for good. Never raises: a database error is
        logged, and the message still reaches its dead-letter queue in RabbitMQ.

        Parameters:
          broker(Broker): The broker (unused; dramatiq's hook signature).
          message(MessageProxy): The message dramatiq processed.
          result(Any): The actor's result (unused).
          exception(BaseException | None): What the actor raised, if anything.
        """
        if exception is None or not message.failed:
            return
        record = {
            "queue": message.queue_name,
            "actor": message.actor_name,
            "error": f"{type(exception).__name__}: {exception}"[:2000],
            "traceback": "".join(traceback.format_exception(exception, limit=20))[-8000:],
            "retries": message.options.get("retries", 0),
            "failed_at": datetime.now(UTC),
        }
        log.error(
            "message %s dead-lettered: %s",
            message.message_id,
            record["error"],
            extra={"message_id": message.message_id},
        )
        try:
            self._collection().replace_one({"_id": message.message_id}, record, upsert=True)
        except Exception:
            # The dead letter itself is safe in RabbitMQ; only its explanation is missing.
            log.exception("could not record the error of dead letter %s", message.message_id)

    def _collection(self):
        if self._client is None:
            self._client = make_sync_mongo(self.settings)
        return self._client[self.settings.mongo_db][DEAD_LETTERS]
