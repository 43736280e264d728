"""Publishing onto the public event stream, the topic exchange ``dc.events``
(``shared.contracts.public_events``), with RabbitMQ publisher confirms.

dramatiq publishes only to queues (the default exchange), so the stream has its own pika
connection, one per thread: a pika ``BlockingConnection`` must not be shared between threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import pika
import pika.exceptions
from dramatiq.errors import ConnectionClosed

from services.runtime.bootstrap import amqp_parameters
from shared.contracts.public_events import (
    EVENTS_EXCHANGE,
    CommandRejected,
    CommandReply,
    PublicEvent,
    public_event_body,
)

log = logging.getLogger(__name__)

JSON = "application/json"

#: What a lost or closed connection raises; the publish is tried once more on a new one.
_LOST = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ChannelClosed,
    pika.exceptions.ConnectionClosed,
    pika.exceptions.StreamLostError,
)

#: The close code of a broker going away (shutting down, or closing the connection by hand):
#: an outage, not an answer about the message.
CONNECTION_FORCED = 320


def broker_refusal(error: BaseException) -> tuple[int, str] | None:
    """The broker's answer ``(reply code, reply text)`` if ``error`` is RabbitMQ closing the
    channel or connection because of what was published (404 NOT_FOUND, 403 ACCESS_REFUSED,
    406 PRECONDITION_FAILED, 541 INTERNAL_ERROR for a forged direct reply-to name, ...);
    None for an outage: a lost connection, a close by the client, or 320 CONNECTION_FORCED.
    """
    closed_by_broker = (
        pika.exceptions.ChannelClosedByBroker,
        pika.exceptions.ConnectionClosedByBroker,
    )
    if isinstance(error, closed_by_broker) and error.reply_code != CONNECTION_FORCED:
        return error.reply_code, error.reply_text
    return None


def declare_events_exchange(channel: pika.adapters.blocking_connection.BlockingChannel) -> None:
    """Declare ``dc.events``: a durable topic exchange (declaring it again is a no-op)."""
    channel.exchange_declare(EVENTS_EXCHANGE, exchange_type="topic", durable=True)


class EventStream:
    """Publishes :class:`PublicEvent` messages to ``dc.events`` and waits for each confirm.

    Blocking: call :meth:`publish` from a worker thread (``asyncio.to_thread``).

    Parameters:
      amqp_url(str): The broker (``DC_AMQP_URL``: one ``amqp://`` URI or several, comma-
        separated; a new connection goes to the first that answers).
    """

    def __init__(self, amqp_url: str):
        self.parameters = amqp_parameters(amqp_url)
        self._local = threading.local()

    def publish(self, event: PublicEvent | CommandRejected) -> None:
        """Publish ``event`` persistently on ``dc.events`` with its routing key
        (``delivery.<process>.<type>``, or ``command.rejected``) and AMQP properties
        ``message_id`` = event id, ``correlation_id`` = command id, ``type`` = event type,
        ``content_type`` = ``application/json``; returns once RabbitMQ confirmed it.

        Raises:
          dramatiq.errors.ConnectionClosed: The broker is unreachable or nacked the message
            (the caller keeps what it publishes and tries again later).
        """
        properties = pika.BasicProperties(
            message_id=event.event_id,
            correlation_id=event.command_id,
            type=event.event_type,
            content_type=JSON,
            delivery_mode=pika.DeliveryMode.Persistent,
            timestamp=int(event.occurred_at.timestamp()),
        )
        self._publish(EVENTS_EXCHANGE, event.routing_key, public_event_body(event), properties)

    def reply(self, queue: str, reply: CommandReply) -> None:
        """Send a command's outcome to the queue its sender named (``reply_to``), through the
        default exchange, with ``correlation_id`` = command id; returns once confirmed. A
        queue that does not exist drops it (RabbitMQ routes it nowhere).

        A reply the broker refuses (it closes the channel or connection for it with a code
        other than 320 CONNECTION_FORCED, as for a forged ``amq.rabbitmq.reply-to.*`` name) is
        final: it is logged as a warning naming the queue and the broker's answer, the
        connection is reset, and nothing is raised. The command is decided; only its reply
        is lost, and sending it again would be refused again.

        Raises:
          dramatiq.errors.ConnectionClosed: The broker is unreachable, lost the connection,
            closed it with 320, or nacked the reply (the command message is retried).
        """
        properties = pika.BasicProperties(
            correlation_id=reply.command_id,
            type="command.outcome",
            content_type=JSON,
            delivery_mode=pika.DeliveryMode.Persistent,
        )
        refusal = self._publish("", queue, public_event_body(reply), properties, refusable=True)
        if refusal is not None:
            code, text = refusal
            log.warning(
                "reply to %s for command %s refused by the broker (%d %s); the reply is dropped",
                queue,
                reply.command_id,
                code,
                text,
            )

    def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: pika.BasicProperties,
        refusable: bool = False,
    ) -> tuple[int, str] | None:
        """Publish with confirms; a connection found lost is replaced once. With
        ``refusable``, the broker refusing the publish itself (:func:`broker_refusal`) on a
        connection opened for it is returned instead of raised, after the connection is
        reset; otherwise returns None. A refusal on a reused connection is tried once more on
        a new one: that connection may have been closed earlier, for something else."""
        for attempt in (1, 2):
            channel = None
            reused = self._open_channel() is not None
            try:
                channel = self._channel()
                channel.basic_publish(exchange, routing_key, body, properties=properties)
                return None
            except _LOST as error:
                self._close()
                # Only the publish is judged: failing to connect is an outage.
                refusal = broker_refusal(error) if channel is not None else None
                if refusable and refusal is not None and not reused:
                    return refusal
                if attempt == 2:
                    raise ConnectionClosed(error) from error
                log.info("event stream connection lost (%s); reconnecting", error)
            except pika.exceptions.NackError as error:
                raise ConnectionClosed(error) from error

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        self._close()

    def _open_channel(self) -> pika.adapters.blocking_connection.BlockingChannel | None:
        """This thread's channel if it is open (as far as pika knows), else None."""
        channel = getattr(self._local, "channel", None)
        return channel if channel is not None and channel.is_open else None

    def _channel(self) -> pika.adapters.blocking_connection.BlockingChannel:
        channel = self._open_channel()
        if channel is None:
            self._close()
            connection = pika.BlockingConnection(self.parameters)
            channel = connection.channel()
            channel.confirm_delivery()
            declare_events_exchange(channel)
            self._local.connection, self._local.channel = connection, channel
        return channel

    def _close(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is not None and connection.is_open:
            # Already going away; a new connection is made on the next publish.
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()
