"""The public event stream (``shared.contracts.public_events``): every event of every path the
engine allows has its public form, and that form is what its schema under ``schemas/events/``
describes."""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shared.contracts.event_schemas import COMMAND_REPLY, build_event_schemas
from shared.contracts.public_events import (
    COMMAND_REJECTED,
    DELIVERY_COMPLETED,
    DELIVERY_TERMINATED,
    EVENTS_EXCHANGE,
    OWN_FIELDS,
    PUBLIC_EVENT_TYPES,
    PublicEvent,
    public_event_body,
    public_event_of,
)
from shared.contracts.schema_files import SCHEMA_DIR, render
from shared.contracts.schemas import write_schemas
from shared.domain.commands import (
    Finish,
    OpenDelivery,
    OpenDispute,
    ResolveDispute,
    Terminate,
)
from shared.domain.engine import Applied, open_delivery
from shared.domain.processes import PROCESSES, Row
from shared.domain.roles import Actor
from shared.domain.states import DeadlineKind, ProcessName, State

from .support import (
    ADMIN,
    CUSTOMER,
    DELIVERABLE_ID,
    ISV,
    MARKETPLACE,
    PARTY,
    T0,
    WARRANTY,
    Walker,
    path_to,
    row_command,
)

EVENT_SCHEMA_DIR = SCHEMA_DIR / "events"
TERMINAL = (State.COMPLETED, State.TERMINATED)
#: How a delivery came to be completed, by the row that completed it (the brief's words).
HOW = {
    ("confirm", None): "confirmed_by_customer",
    ("confirm_warranty", None): "confirmed_by_customer",
    ("expire_deadline", DeadlineKind.CONFIRMATION_WINDOW): "confirmed_automatically",
    ("expire_deadline", DeadlineKind.WARRANTY): "warranty_ended",
}
#: How often one row may be taken on one path: twice walks every loop (changes asked for,
#: the step finished again) once round.
ROW_REPEATS = 2
COMMON = set(PublicEvent.model_fields) - {name for own in OWN_FIELDS.values() for name in own}


@dataclass(frozen=True)
class Seen:
    """One applied command on a walk: how the delivery got there, what was sent, what it did."""

    path: str
    command: Any
    deadline: DeadlineKind | None
    version_before: int
    applied: Applied

    @property
    def public(self) -> PublicEvent:
        (event,) = self.applied.events
        return public_event_of(event)


def _opened(process: ProcessName) -> tuple[Walker, Seen]:
    """A walker at a new delivery, and the opening as seen (``Walker`` keeps no decision)."""
    walker = Walker(process)
    command = OpenDelivery(
        order_id=walker.delivery.order_id,
        order_spec=walker.delivery.order_spec,
        product_id=walker.delivery.product_id,
        isv_id=ISV.id,
        customer_id=CUSTOMER.id,
        customer_email=walker.delivery.customer_email,
        isv_email=walker.delivery.isv_email,
        process=process,
        warranty_period=WARRANTY if process == ProcessName.DOUBLE_CHECK else None,
    )
    applied = open_delivery(command, MARKETPLACE, command_id="open-1", now=T0)
    assert isinstance(applied, Applied)
    return walker, Seen("open_delivery", command, None, 0, applied)


def _try(
    walker: Walker, path: str, seen: list[Seen], command: Any, actor: Actor, deadline: Any = None
) -> tuple[Walker, str] | None:
    """Send ``command`` on a copy of ``walker``; if applied, record it and return the copy."""
    clone = copy.copy(walker)
    decision = clone.send(command, actor)
    if not isinstance(decision, Applied):
        return None
    label = f"{path} > {command.type}" + (f"({deadline})" if deadline else "")
    seen.append(Seen(label, command, deadline, walker.delivery.version, decision))
    return clone, label


def _endings(walker: Walker, path: str, seen: list[Seen]) -> None:
    """Every way an admin or a dispute ends the delivery from here, or resumes it for a step."""
    _try(walker, path, seen, Terminate(reason="order refunded"), ADMIN)
    for opener in (CUSTOMER, ISV):
        opened = _try(walker, path, seen, OpenDispute(reason="we disagree on scope"), opener)
        assert opened, f"{path}: a dispute could not be opened"
        disputed, label = opened
        for resolution in (
            ResolveDispute(outcome="terminate", note="the order is refunded"),
            ResolveDispute(outcome="terminate"),
            Terminate(reason="no agreement"),
        ):
            assert _try(disputed, label, seen, resolution, ADMIN), f"{label}: {resolution}"
    # Resumed: each row from here once more, deadlines running again on the time left.
    resumed = _try(disputed, label, seen, ResolveDispute(outcome="continue", note="go on"), ADMIN)
    assert resumed, f"{label}: the dispute could not be resolved"
    walker, path = resumed
    for row in walker.process.rows_from(walker.delivery.state):
        _try(walker, path, seen, row_command(row, walker.delivery), PARTY[row.role], row.deadline)


def _walk(walker: Walker, path: str, taken: Counter[Row], seen: list[Seen]) -> None:
    """Depth first over every row the engine applies, each at most ROW_REPEATS times a path."""
    state = walker.delivery.state
    if state in TERMINAL:
        return
    _endings(walker, path, seen)
    for row in walker.process.rows_from(state):
        if taken[row] >= ROW_REPEATS:
            continue
        command = row_command(row, walker.delivery)
        went = _try(walker, path, seen, command, PARTY[row.role], row.deadline)
        if went is None:
            continue  # a deadline already fired on this visit
        if row.command == "finish":  # and once without the optional note
            _try(walker, path, seen, Finish(attachments=[DELIVERABLE_ID]), ISV)
        taken[row] += 1
        _walk(*went, taken, seen)
        taken[row] -= 1


@cache
def walks(process: ProcessName) -> tuple[Seen, ...]:
    """Every applied command of every path of ``process``, the opening first."""
    walker, opening = _opened(process)
    seen = [opening]
    _walk(walker, "open_delivery", Counter(), seen)
    return tuple(seen)


@cache
def schema_file(event_type: str) -> Draft202012Validator:
    """The validator of the schema file the repository keeps for ``event_type``."""
    schema = json.loads((EVENT_SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(document: dict[str, Any], event_type: str | None = None) -> list[str]:
    """Why the schema file of ``event_type`` (default: the document's own) refuses it."""
    validator = schema_file(event_type or document["event_type"])
    return [error.message for error in validator.iter_errors(document)]


def body(seen: Seen) -> dict[str, Any]:
    """The message body a walk's event is published with, as a consumer reads it."""
    return json.loads(public_event_body(seen.public))


PROCESS_NAMES = sorted(PROCESSES)


# --- the public form of every event of every walk -------------------------------------------


@pytest.mark.parametrize("process", PROCESS_NAMES)
def test_every_walked_event_has_its_public_form(process: ProcessName) -> None:
    for seen in walks(process):
        (event,) = seen.applied.events
        public, after = seen.public, seen.applied.delivery
        where = seen.path
        assert public.event_type in PUBLIC_EVENT_TYPES, where
        assert public.version == after.version == seen.version_before + 1, where
        assert public.routing_key == f"delivery.{process}.{public.event_type}", where
        assert (public.delivery_id, public.order_id, public.process) == (
            after.delivery_id,
            after.order_id,
            process,
        ), where
        assert (public.event_id, public.command_id, public.actor) == (
            event.event_id,
            event.command_id,
            event.actor,
        ), where
        assert (public.from_state, public.to_state, public.occurred_at) == (
            event.from_state,
            after.state,
            event.occurred_at,
        ), where
        command = seen.command
        if after.state == State.COMPLETED:
            assert public.event_type == DELIVERY_COMPLETED, where
            assert public.how == HOW[command.type, seen.deadline], where
        elif after.state == State.TERMINATED:
            assert public.event_type == DELIVERY_TERMINATED, where
            assert public.terminated_by == ADMIN == seen.applied.events[0].actor, where
            words = command.reason if isinstance(command, Terminate) else command.note
            assert public.reason == words, where
        else:
            assert public.event_type == event.type, where
            assert public.how is None and public.terminated_by is None, where
            own = OWN_FIELDS[public.event_type]
            given = public.model_dump(exclude_unset=True)
            assert set(given) - COMMON <= set(own), where
            for name, always in own.items():
                assert given.get(name) == event.data.get(name), (where, name)
                assert name in given or not always, (where, name)


@pytest.mark.parametrize("process", PROCESS_NAMES)
def test_every_walked_event_is_valid_for_its_schema_file(process: ProcessName) -> None:
    for seen in walks(process):
        document = body(seen)
        assert errors(document) == [], (seen.path, document)
        assert None not in (document.get(name) for name in set(document) - COMMON), seen.path
        assert PublicEvent.model_validate(document) == seen.public, seen.path


@pytest.mark.parametrize("process", PROCESS_NAMES)
def test_walks_take_every_row_of_the_table(process: ProcessName) -> None:
    """So no transition the engine allows goes unwalked."""
    process_rows = PROCESSES[process].rows
    walked = set()
    for seen in walks(process):
        (event,) = seen.applied.events
        for row in process_rows:
            if (row.state, row.to, row.command, row.deadline) == (
                event.from_state,
                event.to_state,
                seen.command.type,
                seen.deadline,
            ):
                walked.add(row)
    assert walked == set(process_rows)


@pytest.mark.parametrize(
    ("process", "hows"),
    [
        ("basic", {"confirmed_by_customer", "confirmed_automatically"}),
        ("contract", {"confirmed_by_customer", "confirmed_automatically"}),
        ("stepwise", {"confirmed_by_customer", "confirmed_automatically"}),
        ("double_check", {"confirmed_by_customer", "warranty_ended"}),
    ],
)
def test_each_process_completes_in_its_ways(process: ProcessName, hows: set[str]) -> None:
    completed = {s.public.how for s in walks(process) if s.public.event_type == DELIVERY_COMPLETED}
    assert completed == hows


def test_the_published_types_are_the_public_types_and_each_has_its_schema_and_fields() -> None:
    published = {seen.public.event_type for process in PROCESSES for seen in walks(process)}
    assert published == PUBLIC_EVENT_TYPES
    assert set(OWN_FIELDS) == PUBLIC_EVENT_TYPES
    # Besides the events of deliveries: a refused command's announcement and a reply.
    assert {path.stem for path in EVENT_SCHEMA_DIR.glob("*.json")} == PUBLIC_EVENT_TYPES | {
        COMMAND_REJECTED,
        COMMAND_REPLY,
    }


def test_a_delivery_completed_of_the_shortest_path_reads_as_a_payment_system_needs() -> None:
    walker = Walker("basic")
    for row in path_to(walker.process, State.AWAITING_CONFIRMATION):
        walker.step(row)
    (event,) = walker.step(walker.process.rows_from(State.AWAITING_CONFIRMATION)[0]).events
    document = json.loads(public_event_body(public_event_of(event)))
    assert document["event_type"] == "delivery_completed"
    assert document["how"] == "confirmed_by_customer"
    assert document["version"] == walker.delivery.version
    assert document["from_state"] == "awaiting_confirmation" and document["to_state"] == "completed"
    assert set(document) == COMMON | {"how"}


# --- the schemas refuse what is not the type's ----------------------------------------------


@cache
def sample(event_type: str) -> dict[str, Any]:
    """A walked body of ``event_type`` with the most own fields."""
    bodies = [body(s) for p in PROCESS_NAMES for s in walks(p) if s.public.event_type == event_type]
    return max(bodies, key=len)


TYPES = sorted(PUBLIC_EVENT_TYPES)


@pytest.mark.parametrize("event_type", TYPES)
def test_an_unknown_own_field_is_refused(event_type: str) -> None:
    for extra in ("surprise", *{n for own in OWN_FIELDS.values() for n in own} - set(COMMON)):
        if extra in OWN_FIELDS[event_type]:
            continue
        document = {**sample(event_type), extra: "x"}
        assert errors(document), (event_type, extra)


@pytest.mark.parametrize("event_type", TYPES)
def test_a_missing_required_field_is_refused(event_type: str) -> None:
    required = [*COMMON, *(n for n, always in OWN_FIELDS[event_type].items() if always)]
    for name in required:
        document = {k: v for k, v in sample(event_type).items() if k != name}
        assert errors(document, event_type), (event_type, name)


@pytest.mark.parametrize("event_type", TYPES)
def test_an_own_field_is_never_null_and_the_type_is_its_own(event_type: str) -> None:
    for name in OWN_FIELDS[event_type]:
        assert errors({**sample(event_type), name: None}), (event_type, name)
    for other in TYPES:
        if other != event_type:
            assert errors({**sample(event_type), "event_type": other}, event_type), other


@pytest.mark.parametrize("event_type", TYPES)
def test_optional_own_fields_may_be_left_out(event_type: str) -> None:
    optional = [n for n, always in OWN_FIELDS[event_type].items() if not always]
    document = {k: v for k, v in sample(event_type).items() if k not in optional}
    assert errors(document) == []


# --- the schema files -----------------------------------------------------------------------


@pytest.mark.parametrize("event_type", TYPES)
def test_each_schema_says_how_the_event_travels(event_type: str) -> None:
    schema = build_event_schemas()[event_type]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:delivery-center:schema:events:{event_type}"
    assert schema["additionalProperties"] is False
    assert schema["properties"]["event_type"]["const"] == event_type
    own = OWN_FIELDS[event_type]
    assert set(schema["required"]) == COMMON | {n for n, always in own.items() if always}
    assert set(schema["properties"]) == COMMON | set(own)
    for words in (
        f"`{EVENTS_EXCHANGE}`",
        "topic exchange",
        f"`delivery.<process>.{event_type}`",
        "message_id = event_id",
        "correlation_id = command_id",
        f"type = `{event_type}`",
        "application/json",
        "persistent",
        "at least once",
        "deduplicate by `event_id`",
        "`version`",
    ):
        assert words in schema["description"], words


def test_write_schemas_writes_the_events_folder_and_removes_stale_files(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "party_started.json").write_text("{}")
    (tmp_path / "retired_command.json").write_text("{}")
    (tmp_path / "events" / "notes.txt").write_text("kept")
    written = write_schemas(tmp_path)
    events = {path.stem for path in (tmp_path / "events").glob("*.json")}
    assert (
        events
        == set(build_event_schemas())
        == PUBLIC_EVENT_TYPES
        | {
            COMMAND_REJECTED,
            COMMAND_REPLY,
        }
    )
    assert not (tmp_path / "retired_command.json").exists()
    assert (tmp_path / "events" / "notes.txt").read_text() == "kept"
    assert {p for p in written if p.parent.name == "events"} == {
        tmp_path / "events" / f"{t}.json" for t in events
    }
    for event_type, schema in build_event_schemas().items():
        assert (tmp_path / "events" / f"{event_type}.json").read_text() == render(schema)


def test_a_rejection_and_a_reply_match_their_schemas() -> None:
    from datetime import UTC, datetime

    from shared.contracts.public_events import CommandRejected, CommandReply

    rejected = CommandRejected(
        event_id="e" * 32,
        event_type=COMMAND_REJECTED,
        command_id="bus-1",
        command="confirm",
        delivery_id="d" * 32,
        actor=Actor(id="c-1", role="customer"),
        reason="wrong_state",
        message="confirm is not possible while the delivery is awaiting_demand",
        occurred_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )
    assert rejected.routing_key == "command.rejected"
    replies = [
        CommandReply(
            command_id="bus-1",
            delivery_id="d" * 32,
            type="finish",
            status="applied",
            reason=None,
            message=None,
        ),
        CommandReply(
            command_id="bus-2",
            delivery_id="d" * 32,
            type="confirm",
            status="rejected",
            reason="wrong_state",
            message="not now",
        ),
    ]
    for name, body in [(COMMAND_REJECTED, rejected), *((COMMAND_REPLY, r) for r in replies)]:
        schema = json.loads((EVENT_SCHEMA_DIR / f"{name}.json").read_text())
        document = json.loads(public_event_body(body))
        assert list(Draft202012Validator(schema).iter_errors(document)) == [], name
        assert list(Draft202012Validator(schema).iter_errors({**document, "extra": 1})), name
