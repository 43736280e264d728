"""Real events for the notifier's unit tests: every row of every process, every global command.

Each is produced by the engine itself (through ``support.Walker``), so the summaries, states
and deadlines are the ones the notifier will see.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.domain.commands import OpenDelivery, OpenDispute, ResolveDispute, Terminate
from shared.domain.engine import Applied, open_delivery
from shared.domain.events import Event
from shared.domain.processes import PROCESSES
from shared.domain.states import TERMINAL_STATES, ProcessName
from tests.unit.support import (
    ADMIN,
    CUSTOMER,
    MARKETPLACE,
    PARTY,
    T0,
    WARRANTY,
    Walker,
    row_command,
)


def opened_event(process: ProcessName) -> Event:
    command = OpenDelivery(
        order_id="order-1",
        order_spec="1 x website, premium",
        product_id="prod-1",
        isv_id="isv-1",
        customer_id="cust-1",
        customer_email="ada@example.com",
        isv_email="sales@isv.example",
        process=process,
        warranty_period=WARRANTY if process == ProcessName.DOUBLE_CHECK else None,
    )
    decision = open_delivery(command, MARKETPLACE, command_id="open-order-1", now=T0)
    assert isinstance(decision, Applied), decision
    [event] = decision.events
    return event


def _only(decision: Any) -> Event:
    assert isinstance(decision, Applied), decision
    [event] = decision.events
    return event


def every_event() -> Iterator[tuple[str, Event]]:
    """(label, event) for each transition the processes allow, once each."""
    for name, process in PROCESSES.items():
        yield f"{name}:open_delivery", opened_event(name)
        for row in process.rows:
            walker = Walker.at(name, row.state)
            event = _only(walker.send(row_command(row, walker.delivery), PARTY[row.role]))
            label = f"{name}:{row.state}:{row.command}"
            yield label + (f":{row.deadline}" if row.deadline else ""), event
        for state in sorted(process.states - TERMINAL_STATES):
            walker = Walker.at(name, state)
            disputed = Walker.at(name, state)
            yield (
                f"{name}:{state}:open_dispute",
                _only(disputed.send(OpenDispute(reason="we disagree on scope"), CUSTOMER)),
            )
            for outcome in ("continue", "terminate"):
                resolved = Walker.at(name, state)
                resolved.apply(OpenDispute(reason="we disagree on scope"), CUSTOMER)
                yield (
                    f"{name}:{state}:resolve_dispute:{outcome}",
                    _only(resolved.send(ResolveDispute(outcome=outcome, note="settled"), ADMIN)),
                )
            yield (
                f"{name}:{state}:terminate",
                _only(walker.send(Terminate(reason="order refunded"), ADMIN)),
            )


EVENTS: list[tuple[str, Event]] = list(every_event())
