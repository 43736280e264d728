"""What every JSON Schema file of the project shares: where the files live, their dialect and
``$id``, pydantic's generator as the project uses it, and how a file is written."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from shared.domain.commands import NOT_BLANK

SCHEMA_DIR = Path(__file__).with_name("schemas")
#: The public event schemas' folder, under the schema folder.
EVENTS = "events"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:delivery-center:schema:"


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, saying what the models accept that it would leave out.

    Durations bring their own schema (shared.durations.Duration), the parser's grammar.
    """

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        """pydantic's string schema, plus ``pattern`` :data:`NOT_BLANK` where blank text is
        refused. A type with a pattern of its own says it there (``SingleLine``): two
        patterns on one string leave generators filtering out nearly all they make."""
        json_schema = super().str_schema(schema)
        stripped_then_measured = schema.get("strip_whitespace") and schema.get("min_length", 0)
        if stripped_then_measured and "pattern" not in json_schema:
            # Whitespace is stripped before the length is checked: blank text is refused.
            json_schema["pattern"] = NOT_BLANK
        return json_schema


def document(model: type[BaseModel], *, name: str, title: str, description: str) -> dict[str, Any]:
    """``model``'s JSON Schema (draft 2020-12, validation mode) as a file of its own: ``$id``
    ``urn:delivery-center:schema:<name>``, with ``title`` and ``description``."""
    schema = model.model_json_schema(schema_generator=SchemaGenerator, mode="validation")
    return {
        "$schema": DIALECT,
        "$id": f"{ID_PREFIX}{name}",
        **schema,
        "title": title,
        "description": description,
    }


def render(schema: Mapping[str, Any]) -> str:
    """A schema as the repository keeps it: UTF-8 JSON, keys sorted, indented 2, final newline."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_folder(directory: Path, schemas: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """Write ``schemas`` (by file name without ``.json``) into ``directory`` and remove the
    ``.json`` files there no longer made; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / f"{name}.json" for name in sorted(schemas)]
    for path in written:
        path.write_text(render(schemas[path.stem]), encoding="utf-8")
    for stale in (path for path in directory.glob("*.json") if path.stem not in schemas):
        stale.unlink()
    return written
