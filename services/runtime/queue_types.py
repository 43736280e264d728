"""Classic or quorum queues (``DC_QUEUE_TYPE``): dramatiq's RabbitMQ broker, declaring its
queues with the arguments of the chosen type.

dramatiq declares three queues per queue name itself: ``<queue>`` and its delay queue
``<queue>.DQ`` with the arguments of ``_build_queue_arguments`` (dead-lettering to
``<queue>.XQ``), and ``<queue>.XQ`` with a fixed 7-day message TTL and no way in for more
arguments. :class:`TypedQueuesBroker` adds the type's arguments to the first and declares the
dead-letter queue itself. Classic queues keep exactly dramatiq's arguments.

A queue's type cannot change in place: RabbitMQ refuses a declare whose arguments differ
(406 PRECONDITION_FAILED), and dramatiq would report it as a lost connection after retrying;
:class:`QueueTypeMismatch` names the queue, its current type and the setting instead.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import ConnectionClosed

QueueType = Literal["classic", "quorum"]
QueueKind = Literal["queue", "delay", "dead_letter"]

#: How many times a quorum queue hands out one message before dead-lettering it to ``.XQ``.
#: dramatiq's retries are not counted here: a retry is a new message (published to ``.DQ``,
#: the failed one acked), and a message it gives up on is nacked to ``.XQ`` at once. What
#: counts is a message returned unacked: its worker crashed, its connection or node was lost,
#: or a worker stopped while holding it prefetched (a delayed retry sits prefetched in a worker
#: until due). 20 is well above dramatiq's ``MAX_RETRIES`` (8), so restarts and failovers never
#: dead-letter a healthy message, while one that kills its worker every time stops at 20
#: instead of looping forever (a classic queue has no such limit).
DELIVERY_LIMIT = 20
#: The dead-letter queues' limit: nothing consumes them, but ``delivery-center dlq`` browses
#: them by taking every letter and handing it back, which counts as a delivery; past the
#: limit a quorum queue drops a message that has no dead-letter queue of its own. It is set
#: (not left out) because RabbitMQ 4 applies a default of 20 to quorum queues without one,
#: and 3.x reads -1 as "drop at the first return", not "no limit".
DEAD_LETTER_DELIVERY_LIMIT = 100_000

_INEQUIVALENT = re.compile(r"inequivalent arg '(?P<arg>[^']+)' for queue '(?P<queue>[^']+)'")
_CURRENT_TYPE = re.compile(r"current is (?:the value '(?P<type>[^']+)'|none)")


class QueueTypeMismatch(ConnectionClosed):
    """RabbitMQ refused to declare a queue: it exists with other arguments (its type, or a
    delivery limit), and a queue's arguments cannot change in place.

    A :class:`dramatiq.errors.ConnectionClosed`, so a publish answers as for a broker outage;
    a worker stops at start (``bootstrap.run_worker_until_signalled``).

    Parameters:
      queue(str): The queue, e.g. ``dc.commands.DQ``.
      wanted(str): ``DC_QUEUE_TYPE``: ``classic`` or ``quorum``.
      current(str | None): The queue's type as it exists, when RabbitMQ says it.
      reply_text(str): RabbitMQ's answer (406 PRECONDITION_FAILED ...).
    """

    def __init__(self, queue: str, wanted: str, current: str | None, reply_text: str):
        self.queue, self.wanted, self.current = queue, wanted, current
        if current is not None and current != wanted:
            what = f"it exists as a {current} queue and a queue's type cannot change in place"
        else:
            what = f"it exists as a {current or wanted} queue with other arguments"
        super().__init__(
            f"queue {queue!r} cannot be declared as a {wanted} queue (DC_QUEUE_TYPE={wanted}): "
            f"{what}; drain and delete it, or use a new virtual host (README, Running at "
            f"scale). RabbitMQ: {reply_text}"
        )


def queue_arguments(queue_name: str, kind: QueueKind, queue_type: QueueType) -> dict[str, Any]:
    """The arguments a queue of the product is declared with.

    Parameters:
      queue_name(str): The canonical queue, e.g. ``dc.commands`` (not its ``.DQ``/``.XQ``).
      kind(str): ``queue`` (the queue itself), ``delay`` (``.DQ``) or ``dead_letter``
        (``.XQ``).
      queue_type(str): ``classic`` (dramatiq's arguments, unchanged) or ``quorum``.

    Returns:
      dict: AMQP queue arguments: the first two kinds dead-letter to ``<queue>.XQ``; the dead
      letters expire after dramatiq's ``DEAD_MESSAGE_TTL``; quorum adds ``x-queue-type`` and
      ``x-delivery-limit`` (:data:`DELIVERY_LIMIT`, :data:`DEAD_LETTER_DELIVERY_LIMIT`).
    """
    if kind == "dead_letter":
        arguments: dict[str, Any] = {"x-message-ttl": DEAD_MESSAGE_TTL}
        limit = DEAD_LETTER_DELIVERY_LIMIT
    else:
        arguments = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue_name)}
        limit = DELIVERY_LIMIT
    if queue_type == "quorum":
        arguments |= {"x-queue-type": "quorum", "x-delivery-limit": limit}
    return arguments


def mismatch(error: BaseException, wanted: QueueType) -> QueueTypeMismatch | None:
    """The :class:`QueueTypeMismatch` that ``error`` means, if it is RabbitMQ refusing a
    declare for inequivalent arguments; None for any other error.

    Parameters:
      error(BaseException): What a ``queue_declare`` raised.
      wanted(str): ``DC_QUEUE_TYPE``.

    Returns:
      QueueTypeMismatch | None: Its ``current`` is the existing queue's type when the refused
      argument is ``x-queue-type`` (``none`` there is a classic queue), else ``wanted``.
    """
    if not isinstance(error, pika.exceptions.ChannelClosedByBroker) or error.reply_code != 406:
        return None
    refused = _INEQUIVALENT.search(error.reply_text or "")
    if refused is None:
        return None
    current: str | None = wanted
    if refused["arg"] == "x-queue-type":
        found = _CURRENT_TYPE.search(error.reply_text)
        current = (found["type"] or "classic") if found else None
    return QueueTypeMismatch(refused["queue"], wanted, current, error.reply_text)


class TypedQueuesBroker(RabbitmqBroker):
    """dramatiq's RabbitMQ broker, declaring its queues as ``queue_type`` queues.

    Parameters:
      queue_type(str): ``classic`` or ``quorum`` (``DC_QUEUE_TYPE``); the other keyword
        arguments are ``RabbitmqBroker``'s (``max_priority`` is not for quorum queues).

    Raises:
      QueueTypeMismatch: From a declare (first publish or consume of a queue) that RabbitMQ
        refuses because the queue exists with other arguments.
    """

    def __init__(self, *, queue_type: QueueType = "classic", **kwargs: Any):
        super().__init__(**kwargs)
        self.queue_type = queue_type

    def _build_queue_arguments(self, queue_name: str) -> dict[str, Any]:
        return queue_arguments(queue_name, "queue", self.queue_type)

    def _declared(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return self.channel.queue_declare(queue=name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as error:
            refused = mismatch(error, self.queue_type)
            if refused is None:
                raise
            del self.connection  # the channel is closed: the next caller opens new ones
            raise refused from error

    def _declare_queue(self, queue_name: str) -> Any:
        return self._declared(queue_name, queue_arguments(queue_name, "queue", self.queue_type))

    def _declare_dq_queue(self, queue_name: str) -> Any:
        arguments = queue_arguments(queue_name, "delay", self.queue_type)
        return self._declared(dq_name(queue_name), arguments)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        arguments = queue_arguments(queue_name, "dead_letter", self.queue_type)
        return self._declared(xq_name(queue_name), arguments)
