"""Reading request bodies: JSON that parses, then a pydantic model that validates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from services.gateway.errors import HttpError

#: Largest JSON body accepted, in bytes.
MAX_JSON_BYTES = 256 * 1024


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise HttpError(
            413, "body_too_large", f"a JSON body may have at most {MAX_JSON_BYTES} bytes"
        )
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise HttpError(
            413, "body_too_large", f"a JSON body may have at most {MAX_JSON_BYTES} bytes"
        )
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, "malformed_json", f"the body is not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise HttpError(400, "malformed_json", "the body must be a JSON object")
    return body


def fingerprint(body: dict[str, Any], *scope: str) -> str:
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
