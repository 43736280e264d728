"""JSON error answers: a stable code, a sentence, and for bad input the fields at fault."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.bootstrap import is_transient_db_error

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    headers = dict(headers or {})
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return web.json_response(
        {"error": code, "message": message, **extra}, status=status, headers=headers
    )


class HttpError(Exception):
    """Raised by handlers; the error middleware turns it into a JSON answer."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message, **self.extra)


def validation_error(error: ValidationError, *, prefix: str = "") -> HttpError:
    fields = [
        {"field": prefix + ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
        for item in error.errors(include_url=False)
    ]
    summary = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields)
    return HttpError(422, "invalid_input", summary, fields=fields)


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        # Keep the headers that matter to a client, e.g. ``Allow`` on 405.
        kept = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
        return error_response(
            error.status,
            error.reason.lower().replace(" ", "_"),
            error.text or error.reason,
            headers=kept,
        )
    except Exception as error:
        if is_transient_db_error(error):
            log.warning("database unreachable for %s %s: %s", request.method, request.path, error)
            return error_response(
                503,
                "database_unavailable",
                "the database is unreachable; retry later",
                retry_after=5,
            )
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "an unexpected error occurred; it has been logged"
        )
