"""A test's view of the public event stream: a queue bound to ``dc.events`` in a system's
RabbitMQ virtual host, read as a marketplace consumer would."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika

from services.runtime.event_stream import declare_events_exchange
from shared.contracts.public_events import EVENTS_EXCHANGE
from tests.integration.waiting import PATIENCE


@dataclass(frozen=True)
class Received:
    """One message as a consumer gets it: routing key, AMQP properties, JSON body."""

    routing_key: str
    properties: pika.BasicProperties
    body: dict[str, Any]


class EventTap:
    """An exclusive queue bound to ``dc.events`` with ``binding`` (a topic pattern), bound
    before anything is published so it misses nothing; :meth:`wait_for` reads it."""

    def __init__(self, amqp_url: str, binding: str = "#"):
        # No heartbeats: the test may not read for minutes while the system works.
        parameters = pika.URLParameters(amqp_url)
        parameters.heartbeat = 0
        self.connection = pika.BlockingConnection(parameters)
        self.channel = self.connection.channel()
        declare_events_exchange(self.channel)
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, EVENTS_EXCHANGE, binding)
        self.received: list[Received] = []

    def drain(self) -> list[Received]:
        """Read every message waiting in the queue; returns all received so far."""
        while True:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.received
            self.received.append(Received(method.routing_key, properties, json.loads(body)))

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = PATIENCE
    ) -> list[Received]:
        """Read until ``predicate(all received)`` holds; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate(await asyncio.to_thread(self.drain)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"events received: {[r.routing_key for r in self.received]}")
            await asyncio.sleep(0.05)
        return self.received

    def of(self, delivery_id: str) -> list[Received]:
        """The messages received about one delivery, in arrival order."""
        return [r for r in self.received if r.body["delivery_id"] == delivery_id]

    def close(self) -> None:
        """Delete the queue (it is exclusive) by closing the connection."""
        if self.connection.is_open:
            self.connection.close()
