"""Telling a reply the broker refuses (final: logged and dropped) from a broker outage (raised,
so the command message is retried): ``services.runtime.event_stream``."""

from __future__ import annotations

import logging

import pika.exceptions
import pytest
from dramatiq.errors import ConnectionClosed

from services.runtime.event_stream import EventStream, broker_refusal
from shared.contracts.public_events import CommandReply

FORGED = "amq.rabbitmq.reply-to.g1hkABFyYWJiaXRAbG9jYWxob3N0AAAAAQAAAAFn0fYq.abc"


@pytest.mark.parametrize(
    "error",
    [
        pika.exceptions.ConnectionClosedByBroker(541, "INTERNAL_ERROR"),
        pika.exceptions.ConnectionClosedByBroker(530, "NOT_ALLOWED"),
        pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND - no queue 'x'"),
        pika.exceptions.ChannelClosedByBroker(403, "ACCESS_REFUSED"),
        pika.exceptions.ChannelClosedByBroker(406, "PRECONDITION_FAILED"),
    ],
)
def test_a_close_by_the_broker_for_the_message_is_a_refusal(error: Exception):
    assert broker_refusal(error) == (error.reply_code, error.reply_text)


@pytest.mark.parametrize(
    "error",
    [
        pika.exceptions.ConnectionClosedByBroker(320, "CONNECTION_FORCED - shutdown"),
        pika.exceptions.StreamLostError("Transport indicated EOF"),
        pika.exceptions.AMQPConnectionError("unreachable"),
        pika.exceptions.ConnectionClosedByClient(200, "Normal shutdown"),
        pika.exceptions.ChannelClosedByClient(200, "Normal shutdown"),
        pika.exceptions.ConnectionWrongStateError("closed"),
        pika.exceptions.NackError([]),
        RuntimeError("not the broker at all"),
    ],
)
def test_an_outage_or_a_close_by_the_client_is_no_refusal(error: Exception):
    assert broker_refusal(error) is None


class _Channel:
    """A channel whose publishes raise the given errors in turn (None: confirmed)."""

    def __init__(self, outcomes: list[Exception | None]):
        self.outcomes, self.published, self.is_open = outcomes, [], True

    def basic_publish(self, exchange, routing_key, body, properties):
        self.published.append(routing_key)
        error = self.outcomes.pop(0)
        if error is not None:
            self.is_open = False
            raise error


def _stream(monkeypatch, outcomes: list[Exception | None]) -> tuple[EventStream, list[_Channel]]:
    """A stream whose every new connection gets a :class:`_Channel` sharing ``outcomes``."""
    stream, opened = EventStream("amqp://guest:guest@localhost:1/%2F"), []

    def channel() -> _Channel:
        current = stream._open_channel()
        if current is None:
            current = _Channel(outcomes)
            opened.append(current)
            stream._local.connection, stream._local.channel = None, current
        return current

    monkeypatch.setattr(stream, "_channel", channel)
    return stream, opened


REPLY = CommandReply(
    command_id="c-1",
    delivery_id="a" * 24,
    type="confirm",
    status="rejected",
    reason="r",
    message="m",
)


@pytest.mark.parametrize(
    "refusal",
    [
        pika.exceptions.ConnectionClosedByBroker(541, "INTERNAL_ERROR"),
        pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND - no queue"),
        pika.exceptions.ChannelClosedByBroker(403, "ACCESS_REFUSED"),
    ],
)
def test_a_refused_reply_is_logged_and_dropped(monkeypatch, caplog, refusal: Exception):
    # A fresh connection: the refusal is about this reply, final at once.
    stream, opened = _stream(monkeypatch, [refusal])
    with caplog.at_level(logging.WARNING, "services.runtime.event_stream"):
        stream.reply(FORGED, REPLY)
    [warning] = caplog.records
    assert FORGED in warning.getMessage() and str(refusal.reply_code) in warning.getMessage()
    assert warning.levelno == logging.WARNING
    assert len(opened) == 1 and stream._open_channel() is None  # reset


def test_a_refusal_on_a_reused_connection_is_tried_on_a_new_one(monkeypatch, caplog):
    refused = pika.exceptions.ConnectionClosedByBroker(541, "INTERNAL_ERROR")
    stream, opened = _stream(monkeypatch, [None, refused, None])
    stream.reply("amq.gen-earlier", REPLY)
    stream.reply("amq.gen-mine", REPLY)  # the reused connection had gone bad meanwhile
    assert [c.published for c in opened] == [["amq.gen-earlier", "amq.gen-mine"], ["amq.gen-mine"]]
    assert not caplog.records
    # Refused on the new connection too: final.
    stream2, opened2 = _stream(monkeypatch, [None, refused, refused, None])
    stream2.reply("amq.gen-earlier", REPLY)
    stream2.reply(FORGED, REPLY)
    stream2.reply("amq.gen-after", REPLY)
    assert [c.published for c in opened2] == [
        ["amq.gen-earlier", FORGED],
        [FORGED],
        ["amq.gen-after"],
    ]


@pytest.mark.parametrize(
    "outage",
    [
        pika.exceptions.ConnectionClosedByBroker(320, "CONNECTION_FORCED - shutdown"),
        pika.exceptions.StreamLostError("Transport indicated EOF"),
    ],
)
def test_a_reply_lost_to_an_outage_raises_for_a_retry(monkeypatch, outage: Exception):
    stream, opened = _stream(monkeypatch, [outage, outage])
    with pytest.raises(ConnectionClosed):
        stream.reply("amq.gen-mine", REPLY)
    assert len(opened) == 2  # tried once more on a new connection


def test_a_nacked_reply_raises_for_a_retry(monkeypatch):
    stream, _ = _stream(monkeypatch, [pika.exceptions.NackError([])])
    with pytest.raises(ConnectionClosed):
        stream.reply("amq.gen-mine", REPLY)


def test_an_unreachable_broker_raises_even_for_a_reply():
    stream = EventStream("amqp://guest:guest@127.0.0.1:1/%2F?connection_attempts=1")
    with pytest.raises(ConnectionClosed):
        stream.reply("amq.gen-mine", REPLY)


def test_an_event_the_broker_refuses_still_raises(monkeypatch):
    # Events are kept in the outbox and published again; only replies are dropped.
    refused = pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND - no exchange")
    stream, _ = _stream(monkeypatch, [refused, refused])
    with pytest.raises(ConnectionClosed):
        stream._publish("dc.events", "delivery.basic.x", b"{}", pika.BasicProperties())
