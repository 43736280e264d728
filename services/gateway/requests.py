"""Reading request bodies: JSON that parses, keys that cannot become operators or paths in a
document, then a pydantic model that validates."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from services.gateway.errors import HttpError

#: Largest JSON body accepted, in bytes.
MAX_JSON_BYTES = 256 * 1024


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _unsafe_key(body: Any) -> str | None:
    """The path of the first key that starts with ``$``, holds a ``.`` or a NUL, if any."""
    stack: list[tuple[str, Any]] = [("", body)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if key.startswith("$") or "." in key or "\x00" in key:
                    return where
                stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))
    return None


async def read_body(request: web.Request, limit: int, too_large: HttpError) -> bytes:
    """The whole body, however it arrives: in pieces over time, chunked, byte by byte.

    ``too_large`` is raised when the declared ``Content-Length`` is over ``limit``, before a
    byte is read, and otherwise as soon as more than ``limit`` bytes have arrived, without
    reading on (one read returns what is buffered, never the whole body by promise).
    """
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    while chunk := await request.content.readany():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object: 413 when too large, 400 when not JSON, 422 for unsafe keys."""
    raw = await read_body(
        request,
        MAX_JSON_BYTES,
        HttpError(413, "body_too_large", f"a JSON body may have at most {MAX_JSON_BYTES} bytes"),
    )
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise HttpError(400, "malformed_json", f"the body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise HttpError(400, "malformed_json", "the body is nested too deeply") from error
    if not isinstance(body, dict):
        raise HttpError(400, "malformed_json", "the body must be a JSON object")
    unsafe = _unsafe_key(body)
    if unsafe is not None:
        message = "keys may not start with '$' or contain '.' or NUL"
        raise HttpError(
            422,
            "invalid_input",
            f"{unsafe}: {message}",
            fields=[{"field": unsafe, "message": message}],
        )
    return body


def fingerprint(body: dict[str, Any], *scope: str) -> str:
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
