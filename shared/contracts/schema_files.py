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

SCHEMA_DIR = Path(__file__).with_name("schemas")
#: The public event schemas' folder, under the schema folder.
EVENTS = "events"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:delivery-center:schema:"


#: Some character that stripping leaves: pydantic strips Unicode White_Space (Rust's
#: ``trim``), written out, because ``\\s`` means other sets in ECMA-262 (no U+0085, but
#: U+FEFF) and in Python (U+001C to U+001F as well).
NOT_BLANK = (
    "[^\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, saying what the models accept that it would leave out.

    Durations bring their own schema (shared.durations.Duration), the parser's grammar.
    """

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        """pydantic's string schema, plus ``pattern`` :data:`NOT_BLANK` where blank text is
        refused."""
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace") and schema.get("min_length", 0) >= 1:
            # Whitespace is stripped before the length is checked: blank text is refused.
            if "pattern" in json_schema:
                json_schema["allOf"] = [{"pattern": NOT_BLANK}]
            else:
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
