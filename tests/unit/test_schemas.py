"""The bus's JSON Schemas: the files in the repo are what the code generates, and they validate."""

from __future__ import annotations

import copy
import json
import re
from typing import Annotated, Any

import dramatiq
import pytest
from jsonschema import Draft202012Validator
from pydantic import StringConstraints, TypeAdapter, ValidationError

from shared.contracts.event_schemas import build_event_schemas
from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import (
    APPLY_COMMAND_ACTOR,
    COMMANDS_QUEUE,
    NOTIFICATIONS_QUEUE,
    SEND_NOTIFICATIONS_ACTOR,
)
from shared.contracts.schema_files import EVENTS, SCHEMA_DIR, render
from shared.contracts.schemas import build_schemas
from shared.domain.commands import ALL_COMMAND_MODELS, COMMAND_MODELS, NOT_BLANK, OpenDelivery
from shared.domain.events import Event

from .support import ADMIN, CUSTOMER, Walker, sample_command

SCHEMAS = build_schemas()
REGENERATE = "run `python -m shared.contracts.schemas` and commit the result"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, document: Any) -> list[str]:
    return [error.message for error in validator(name).iter_errors(document)]


def example(kind: str) -> dict[str, Any]:
    return copy.deepcopy(SCHEMAS[kind]["examples"][0])


# --- the files ------------------------------------------------------------------------------


def test_files_in_the_repo_are_what_the_code_generates() -> None:
    on_disk = {path.stem for path in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(SCHEMAS), f"schema files differ from the generated set: {REGENERATE}"
    for name, schema in SCHEMAS.items():
        text = (SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8")
        assert text == render(schema), f"{name}.json is out of date: {REGENERATE}"


def test_public_event_files_in_the_repo_are_what_the_code_generates() -> None:
    generated = build_event_schemas()
    on_disk = {path.stem for path in (SCHEMA_DIR / EVENTS).glob("*.json")}
    assert on_disk == set(generated), f"{EVENTS}/ differs from the generated set: {REGENERATE}"
    for name, schema in generated.items():
        text = (SCHEMA_DIR / EVENTS / f"{name}.json").read_text(encoding="utf-8")
        assert text == render(schema), f"{EVENTS}/{name}.json is out of date: {REGENERATE}"


def test_one_schema_per_command_type_plus_event_and_message() -> None:
    assert set(SCHEMAS) == set(COMMAND_MODELS) | {"event", "dramatiq-message"}


def test_rendering_is_stable() -> None:
    text = render(SCHEMAS["confirm"])
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_schema_is_a_valid_2020_12_schema_that_says_where_it_travels(name: str) -> None:
    schema = SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(name)
    assert schema["title"] and schema["description"]
    description = schema["description"]
    for words in (
        "queue_name",
        "actor_name",
        "message_id",
        "message_timestamp",
        "default exchange",
    ):
        assert words in description, (name, words)
    if name in COMMAND_MODELS:
        assert "`args[0]`" in description and f"`{COMMANDS_QUEUE}`" in description
        assert f"`{APPLY_COMMAND_ACTOR}`" in description
    elif name == "event":
        assert "`args[0]`" in description and f"`{NOTIFICATIONS_QUEUE}`" in description
        assert f"`{SEND_NOTIFICATIONS_ACTOR}`" in description


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(COMMAND_MODELS))
def test_the_example_is_valid_for_the_schema_and_the_model(kind: str) -> None:
    document = example(kind)
    assert errors(kind, document) == []
    envelope = CommandEnvelope.model_validate(document)
    assert envelope.command.type == kind
    # And a round trip through the model still validates.
    assert errors(kind, envelope.model_dump(mode="json")) == []


@pytest.mark.parametrize("kind", sorted(COMMAND_MODELS))
def test_a_schema_takes_only_its_own_command(kind: str) -> None:
    for other in COMMAND_MODELS:
        if other != kind:
            assert errors(kind, example(other)), (kind, other)


@pytest.mark.parametrize("kind", sorted(COMMAND_MODELS))
def test_the_command_type_must_be_sent(kind: str) -> None:
    document = example(kind)
    del document["command"]["type"]
    assert errors(kind, document)
    with pytest.raises(ValidationError):
        CommandEnvelope.model_validate(document)


def _wrong_type(d: dict[str, Any]) -> None:
    d["command"]["reason"] = 42


def _blank_text(d: dict[str, Any]) -> None:
    d["command"]["reason"] = "   "


def _no_command_id(d: dict[str, Any]) -> None:
    del d["command_id"]


def _extra_field(d: dict[str, Any]) -> None:
    d["priority"] = "high"


def _extra_command_field(d: dict[str, Any]) -> None:
    d["command"]["severity"] = "high"


def _bad_role(d: dict[str, Any]) -> None:
    d["actor"]["role"] = "superuser"


def _bad_delivery_id(d: dict[str, Any]) -> None:
    d["delivery_id"] = "not-hex"


def _issued_at_number(d: dict[str, Any]) -> None:
    d["issued_at"] = {"seconds": 1}


@pytest.mark.parametrize(
    "spoil",
    [
        _wrong_type,
        _blank_text,
        _no_command_id,
        _extra_field,
        _extra_command_field,
        _bad_role,
        _bad_delivery_id,
        _issued_at_number,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_invalid_envelopes_fail_the_schema_and_the_model(spoil: Any) -> None:
    document = example("request_changes")
    spoil(document)
    assert errors("request_changes", document)
    with pytest.raises(ValidationError):
        CommandEnvelope.model_validate(document)


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"demands": 7}, False),
        ({"demands": None}, False),
        ({"contact": {"name": "Ada", "phone": "+1 555 0100"}}, False),  # no email
        ({"contact": {"name": "A\r\nBcc: x@y.z", "phone": "+1 555 0100", "email": "a@b.c"}}, False),
        ({"attachments": ["not-an-id"]}, False),
        ({"attachments": ["0" * 32] * 51}, False),
    ],
)
def test_submit_demand_fields(change: dict[str, Any], valid: bool) -> None:
    document = example("submit_demand")
    document["command"].update(change)
    assert (errors("submit_demand", document) == []) is valid
    if valid:
        CommandEnvelope.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            CommandEnvelope.model_validate(document)


@pytest.mark.parametrize(
    ("warranty_period", "valid"),
    [
        (30 * 86400, True),
        ("P30D", True),
        ("PT30S", True),
        ("2592000", True),
        ("P2W", True),
        (36500 * 86400, True),
        (0, False),
        (-5, False),
        (0.5, False),
        (True, False),
        (36500 * 86400 + 1, False),
        ("PT0.5S", False),
        ("P1Y", False),
        ("P1M", False),
        ("-P1D", False),
        ("PT0S", False),
        ("1:00:00", False),
        ("P1D\n", False),
        (" P1D", False),
    ],
)
def test_open_delivery_durations(warranty_period: Any, valid: bool) -> None:
    document = example("open_delivery")
    document["command"]["warranty_period"] = warranty_period
    assert (errors("open_delivery", document) == []) is valid
    if valid:
        CommandEnvelope.model_validate(document)
    else:
        with pytest.raises(ValidationError):
            CommandEnvelope.model_validate(document)


@pytest.mark.parametrize("process", ["basic", "contract", "stepwise", "double_check"])
def test_only_a_double_check_opening_needs_a_warranty_period(process: str) -> None:
    """The schema states the engine's rule (``decide_opening``), which the model leaves to it."""
    for absent in (None, "left out"):
        document = example("open_delivery")
        document["command"]["process"] = process
        if absent is None:
            document["command"]["warranty_period"] = None
        else:
            document["command"].pop("warranty_period", None)
        assert (errors("open_delivery", document) == []) is (process != "double_check")


@pytest.mark.parametrize("field", ["customer_id", "isv_id"])
def test_open_delivery_refuses_a_dot_segment_as_a_party(field: str) -> None:
    for party, valid in ((".", False), ("..", False), ("...", True), (".a", True)):
        document = example("open_delivery")
        document["command"][field] = party
        assert (errors("open_delivery", document) == []) is valid, party
        if not valid:
            with pytest.raises(ValidationError):
                CommandEnvelope.model_validate(document)
    for actor, valid in ((".", False), ("..", False), ("a\x00", False), ("a\x9f", False)):
        document = example("open_delivery")
        document["actor"]["id"] = actor
        assert (errors("open_delivery", document) == []) is valid, actor
        with pytest.raises(ValidationError):
            CommandEnvelope.model_validate(document)


def test_open_delivery_needs_its_fields() -> None:
    for field in ("order_id", "customer_email", "isv_email", "process"):
        document = example("open_delivery")
        del document["command"][field]
        assert errors("open_delivery", document), field
    document = example("open_delivery")
    document["command"]["process"] = "express"
    assert errors("open_delivery", document)
    assert "uuid5" in SCHEMAS["open_delivery"]["description"]


def test_resolve_dispute_outcomes() -> None:
    document = example("resolve_dispute")
    document["command"]["outcome"] = "terminate"
    assert errors("resolve_dispute", document) == []
    document["command"]["outcome"] = "maybe"
    assert errors("resolve_dispute", document)


def test_schemas_say_who_sends_each_command() -> None:
    assert "Sent by: customer" in SCHEMAS["confirm"]["description"]
    assert (
        "stepwise: awaiting_confirmation, confirm_functional_design"
        in SCHEMAS["confirm"]["description"]
    )
    assert "Sent by: isv" in SCHEMAS["upload_contract"]["description"]
    assert "Sent by: admin" in SCHEMAS["terminate"]["description"]
    assert "every non-terminal state" in SCHEMAS["open_dispute"]["description"]


# --- notifications --------------------------------------------------------------------------


def _real_event() -> dict[str, Any]:
    walker = Walker("basic")
    walker.run("submit_demand", "finish")
    applied = walker.apply(sample_command("open_dispute", walker.delivery), CUSTOMER)
    walker.apply(sample_command("resolve_dispute", walker.delivery), ADMIN)
    (event,) = applied.events
    return event.model_dump(mode="json")


def test_a_real_event_is_valid() -> None:
    document = _real_event()
    assert errors("event", document) == []
    assert Event.model_validate(document).type == "dispute_opened"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d: d.pop("event_id"),
        lambda d: d.update(surprise=True),
        lambda d: d.update(type="party_started"),
        lambda d: d.update(occurred_at=12),
        lambda d: d["delivery"].update(state="almost_done"),
        lambda d: d["delivery"]["deadlines"][0].update(status="snoozed"),
    ],
    ids=["missing", "extra", "unknown-type", "wrong-type", "unknown-state", "unknown-status"],
)
def test_invalid_events_fail(spoil: Any) -> None:
    document = _real_event()
    spoil(document)
    assert errors("event", document)


# --- the dramatiq message -------------------------------------------------------------------


def _message(queue: str, actor: str, document: dict[str, Any]) -> dict[str, Any]:
    """The body dramatiq itself writes to RabbitMQ."""
    message = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=(document,), kwargs={}, options={}
    )
    return json.loads(message.encode())


def test_dramatiqs_own_messages_are_valid() -> None:
    command = _message(COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, example("confirm"))
    assert errors("dramatiq-message", command) == []
    assert errors("confirm", command["args"][0]) == []
    notification = _message(NOTIFICATIONS_QUEUE, SEND_NOTIFICATIONS_ACTOR, _real_event())
    assert errors("dramatiq-message", notification) == []
    assert errors("event", notification["args"][0]) == []
    assert errors("dramatiq-message", SCHEMAS["dramatiq-message"]["examples"][0]) == []


@pytest.mark.parametrize(
    "spoil",
    [
        lambda m: m.update(actor_name=SEND_NOTIFICATIONS_ACTOR),  # wrong actor for the queue
        lambda m: m.update(queue_name="dc.elsewhere"),
        lambda m: m.update(args=[*m["args"], {}]),
        lambda m: m.update(args=[]),
        lambda m: m.update(kwargs={"envelope": {}}),
        lambda m: m.pop("message_id"),
        lambda m: m.update(message_timestamp="yesterday"),
        lambda m: m.update(eta=0),
    ],
    ids=["actor-mismatch", "queue", "two-args", "no-args", "kwargs", "no-id", "timestamp", "extra"],
)
def test_invalid_dramatiq_messages_fail(spoil: Any) -> None:
    body = _message(COMMANDS_QUEUE, APPLY_COMMAND_ACTOR, example("confirm"))
    spoil(body)
    assert errors("dramatiq-message", body)


def test_every_command_names_its_type_once_on_the_bus_and_a_party_command_over_http() -> None:
    """The commands endpoint picks the model by ``type``: its schema requires it (an opening
    may leave it out over HTTP); on the queue every command carries it."""
    for model in ALL_COMMAND_MODELS:
        kind = model.model_fields["type"].default
        over_http = model.model_json_schema().get("required", [])
        assert ("type" in over_http) is (model is not OpenDelivery), kind
        on_the_bus = json.loads((SCHEMA_DIR / f"{kind}.json").read_text())["$defs"][model.__name__]
        assert on_the_bus["required"].count("type") == 1, kind


def test_not_blank_is_what_pydantic_leaves_after_stripping() -> None:
    """A text of one character is refused as blank exactly when the schema's pattern says so,
    for every character up to U+3000 and U+FEFF (ECMA-262's and Python's \\s differ)."""
    text = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)])
    pattern = re.compile(NOT_BLANK)
    for code in [*range(0x3001), 0xFEFF]:
        character = chr(code)
        try:
            text.validate_python(character)
            kept = True
        except ValidationError:
            kept = False
        assert bool(pattern.search(character)) is kept, hex(code)
