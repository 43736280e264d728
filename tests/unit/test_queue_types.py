"""The arguments each queue is declared with, per DC_QUEUE_TYPE, and the error a queue of
another type gives (services.runtime.queue_types)."""

from __future__ import annotations

import dramatiq.broker
import pika.exceptions
import pytest
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.errors import ConnectionClosed
from pydantic import ValidationError

from services.runtime.bootstrap import MAX_RETRIES, make_broker
from services.runtime.queue_types import (
    DEAD_LETTER_DELIVERY_LIMIT,
    DELIVERY_LIMIT,
    TypedQueuesBroker,
    mismatch,
    queue_arguments,
)
from shared.config import Settings

DEAD_LETTERING = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dc.commands.XQ"}


@pytest.mark.parametrize("kind", ["queue", "delay"])
def test_classic_queues_keep_dramatiqs_arguments(kind):
    assert queue_arguments("dc.commands", kind, "classic") == DEAD_LETTERING
    assert RabbitmqBroker(url="amqp://x/")._build_queue_arguments("dc.commands") == DEAD_LETTERING


def test_classic_dead_letters_keep_dramatiqs_ttl_alone():
    assert queue_arguments("dc.commands", "dead_letter", "classic") == {
        "x-message-ttl": DEAD_MESSAGE_TTL
    }


@pytest.mark.parametrize("kind", ["queue", "delay"])
def test_quorum_queues_dead_letter_with_a_delivery_limit(kind):
    assert queue_arguments("dc.notifications", kind, "quorum") == {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "dc.notifications.XQ",
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
    }


def test_quorum_dead_letters_outlast_browsing():
    assert queue_arguments("dc.commands", "dead_letter", "quorum") == {
        "x-message-ttl": DEAD_MESSAGE_TTL,
        "x-queue-type": "quorum",
        "x-delivery-limit": DEAD_LETTER_DELIVERY_LIMIT,
    }


def test_the_delivery_limit_leaves_retries_to_dramatiq():
    assert DELIVERY_LIMIT > MAX_RETRIES
    assert DEAD_LETTER_DELIVERY_LIMIT > DELIVERY_LIMIT


def test_the_setting_chooses_the_brokers_queue_type(monkeypatch):
    monkeypatch.delenv("DC_QUEUE_TYPE", raising=False)
    # make_broker sets dramatiq's global broker: the test's is put back after it.
    monkeypatch.setattr(dramatiq.broker, "global_broker", dramatiq.broker.global_broker)
    assert Settings().queue_type == "classic"
    monkeypatch.setenv("DC_QUEUE_TYPE", "quorum")
    broker = make_broker(Settings())
    assert isinstance(broker, TypedQueuesBroker) and broker.queue_type == "quorum"
    assert broker._build_queue_arguments("dc.commands")["x-queue-type"] == "quorum"
    monkeypatch.setenv("DC_QUEUE_TYPE", "mirrored")
    with pytest.raises(ValidationError, match="queue_type"):
        Settings()


def _refusal(text: str) -> pika.exceptions.ChannelClosedByBroker:
    return pika.exceptions.ChannelClosedByBroker(406, f"PRECONDITION_FAILED - {text}")


def test_a_classic_queue_declared_quorum_is_named_with_its_type():
    error = mismatch(
        _refusal(
            "inequivalent arg 'x-queue-type' for queue 'dc.commands' in vhost '/': received "
            "the value 'quorum' of type 'longstr' but current is none"
        ),
        "quorum",
    )
    assert isinstance(error, ConnectionClosed)
    assert (error.queue, error.current, error.wanted) == ("dc.commands", "classic", "quorum")
    assert "queue 'dc.commands'" in str(error) and "exists as a classic queue" in str(error)
    assert "DC_QUEUE_TYPE=quorum" in str(error)


def test_a_quorum_queue_declared_classic_is_named_with_its_type():
    error = mismatch(
        _refusal(
            "inequivalent arg 'x-queue-type' for queue 'dc.commands.DQ' in vhost '/': received "
            "none but current is the value 'quorum' of type 'longstr'"
        ),
        "classic",
    )
    assert error is not None and (error.queue, error.current) == ("dc.commands.DQ", "quorum")
    assert "DC_QUEUE_TYPE=classic" in str(error)


def test_another_delivery_limit_is_named_too():
    error = mismatch(
        _refusal(
            "inequivalent arg 'x-delivery-limit' for queue 'dc.commands' in vhost '/': "
            "received '20' but current is '5'"
        ),
        "quorum",
    )
    assert error is not None and error.current == "quorum"
    assert "with other arguments" in str(error) and "x-delivery-limit" in str(error)


def test_other_errors_are_not_mismatches():
    assert mismatch(pika.exceptions.ChannelClosedByBroker(404, "NOT_FOUND"), "quorum") is None
    assert mismatch(_refusal("invalid property 'exclusive-owner'"), "quorum") is None
    assert mismatch(pika.exceptions.AMQPConnectionError(), "quorum") is None
