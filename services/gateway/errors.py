"""JSON error answers: a stable code, a sentence, and for bad input the fields at fault."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
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
        return error_response(
            error.status, error.reason.lower().replace(" ", "_"), error.text or error.reason
        )
    except ConnectionFailure as error:
        log.warning("database unreachable answering %s %s: %s", request.method, request.path, error)
        return error_response(
            503, "database_unavailable", "the database is unreachable; retry later", retry_after=5
        )
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return error_response(
            500, "internal_error", "an unexpected error occurred; it has been logged"
        )
