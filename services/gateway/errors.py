"""JSON error answers: a stable code, a sentence, and for bad input the fields at fault.

On a page route (``/d/…``, ``/admin``) every refusal is an HTML page instead, rendered by
the function the app registers under :data:`PAGE_REFUSAL`.

Also what happens when no answer can be given: once a response has started (its headers are
out), nothing may follow it on the connection, so a failure closes the connection instead; a
client that went away gets nothing and is logged as such, in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from services.gateway.models import Error, json_answer
from services.runtime.bootstrap import is_transient_db_error
from services.runtime.links import ADMIN_PATH, PAGE_PREFIX
from services.runtime.list_links import ME_PATH
from shared.validation_errors import error_message, field_path

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: The response a request started (set just before its headers go out). From then on no other
#: response may be written on its connection.
RESPONSE_STARTED = web.RequestKey("response_started", web.StreamResponse)
#: Renders a refusal on a page route as HTML: ``(status, message) -> response``. The app sets
#: it (the pages' templates are theirs); without it every refusal is JSON.
PAGE_REFUSAL = web.AppKey("page_refusal", Callable[[int, str], web.StreamResponse])
#: Paths of the pages, which answer refusals in HTML (README, "Errors").
_PAGE_PATH = re.compile(
    f"{re.escape(PAGE_PREFIX)}|(?:{re.escape(ADMIN_PATH)}|{re.escape(ME_PATH)})(?:/|$)"
)
#: Status counted (metrics, access log) for a request whose client left before its answer:
#: nginx's "client closed request". It is never sent; nobody is there to read it.
CLIENT_GONE_STATUS = 499


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """A JSON refusal: :class:`~services.gateway.models.Error` ``{error: code, message,
    ...extra}`` (e.g. ``fields``, ``delivery_id``); ``retry_after`` (seconds) is also sent as
    ``Retry-After``."""
    headers = dict(headers or {})
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_answer(Error(error=code, message=message, **extra), status=status, headers=headers)


def is_page(request: web.BaseRequest) -> bool:
    """Whether ``request`` is for a page (``/d/…``, ``/admin``, ``/me``), answered in HTML."""
    return is_page_target(request.path)


def is_page_target(target: str) -> bool:
    """Whether a request target (a path, with or without its query) is a page's (``/d/…``,
    ``/admin``, ``/me``)."""
    return _PAGE_PATH.match(target.partition("?")[0]) is not None


def refusal_response(
    request: web.BaseRequest,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.StreamResponse:
    """A refusal: JSON ``{error, message, ...}``, or on a page route the HTML page of
    :data:`PAGE_REFUSAL` with the same status and headers (``Retry-After``, ``Allow``)."""
    app = request.app if isinstance(request, web.Request) else None
    render = app.get(PAGE_REFUSAL) if app is not None and is_page(request) else None
    if render is None:
        return error_response(status, code, message, headers, **extra)
    response = render(status, message)
    response.headers.update(headers or {})
    if "retry_after" in extra:
        response.headers["Retry-After"] = str(extra["retry_after"])
    return response


def end_unread_body(request: web.BaseRequest) -> None:
    """Mark a body that broke part way (bad gzip, bad chunk) as ended, once it is refused.

    aiohttp reads what is left of an unread body after the answer ("lingering"), and a broken
    one raises its stored error there, logged as "Unhandled exception" with a traceback. At
    its end, the body is not read on; the refusal closes the connection.
    """
    if request.content.exception() is not None and not request.content.is_eof():
        request.content.feed_eof()


class HttpError(Exception):
    """Raised by handlers; the error middleware turns it into a JSON answer.

    Parameters:
      status(int): The HTTP status, 4xx or 5xx (RFC 9110 section 15).
      code(str): The stable ``error`` code, e.g. ``not_found``.
      message(str): The sentence for people.
      extra: More fields of the answer (``fields``, ``delivery_id``); ``retry_after`` (seconds)
        is also sent as ``Retry-After``, ``headers`` (a dict) as headers.
    """

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> web.Response:
        """This refusal as a JSON answer (:func:`error_response`)."""
        return error_response(self.status, self.code, self.message, **self.extra)


class ResponseAborted(Exception):
    """A response failed after its headers were sent. Its connection has been closed, so the
    client sees fewer bytes than announced and knows the answer is incomplete. It was logged
    where it happened; no error handler may answer it."""


#: At most this many problems are listed in one 422: a body of ten thousand unknown keys
#: gets a short answer that counts the rest.
FIELDS_LISTED = 20


def validation_error(error: ValidationError, *, prefix: str = "") -> HttpError:
    """A pydantic validation failure as 422 ``invalid_input``, each field at fault named.

    Parameters:
      error(ValidationError): What pydantic found.
      prefix(str): Put before each field's dotted path (a nested body's place), e.g. ``order.``.

    Returns:
      HttpError: 422, ``message`` every problem in one line, ``fields`` a list of
      ``{field, message}`` (:class:`~services.gateway.models.FieldError`): the first
      :data:`FIELDS_LISTED` problems, each cut short (``shared.validation_errors``), and the
      message counts the others.
    """
    problems = error.errors(include_url=False)
    fields = [
        {"field": field_path(item["loc"], prefix), "message": error_message(item)}
        for item in problems[:FIELDS_LISTED]
    ]
    summary = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields)
    if len(problems) > FIELDS_LISTED:
        summary += f"; and {len(problems) - FIELDS_LISTED} more problems"
    return HttpError(422, "invalid_input", summary, fields=fields)


async def remember_started(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: note the first response a request starts."""
    if RESPONSE_STARTED not in request:
        request[RESPONSE_STARTED] = response


def client_gone(request: web.Request, error: BaseException) -> bool:
    """Whether ``error`` is the client's connection closing under the request.

    aiohttp fails a body being read with ``ConnectionResetError("Connection lost")`` and a
    write with ``ClientConnectionResetError``; both are ``ConnectionError`` and leave the
    request without a transport. A ``ConnectionError`` of another peer (the broker, say) while
    the client is still there is not the client's doing.
    """
    if not isinstance(error, ConnectionError):
        return False
    transport = request.transport
    return transport is None or transport.is_closing()


def abort(request: web.Request) -> ResponseAborted:
    """Close the request's connection at once; what was written so far still goes out."""
    transport = request.transport
    if transport is not None:
        transport.close()
    return ResponseAborted(f"{request.method} {request.path}: connection closed mid-answer")


async def handle_or_abort(handler: Handler, request: web.Request) -> web.StreamResponse:
    """``handler(request)``, except that a failure after its response started is never
    answered: the connection is closed (:class:`ResponseAborted`), or, when the client left,
    the started response is handed back for aiohttp to end quietly."""
    try:
        return await handler(request)
    except ResponseAborted:
        raise
    except Exception as error:
        started = request.get(RESPONSE_STARTED)
        if started is None:
            raise
        if client_gone(request, error):
            log.info("client went away during %s %s: %s", request.method, request.path, error)
            return started
        if is_transient_db_error(error):
            log.warning(
                "database unreachable during %s %s after the answer started; connection closed: %s",
                request.method,
                request.path,
                error,
            )
        else:
            log.exception(
                "unexpected error during %s %s after the answer started; connection closed",
                request.method,
                request.path,
            )
        raise abort(request) from error


#: Where aiohttp's parser starts quoting the client's bytes in a message.
_QUOTED_BYTES = re.compile(r":?\s*(?:b'|b\"|bytearray\().*", re.DOTALL)
#: Longest reason kept from a parser's message.
MAX_REASON_CHARS = 120


def reason_of(error: BaseException) -> str:
    """A short reason for a refused request, e.g. ``Invalid header value char``: aiohttp's
    message up to its first blank line, without the client's bytes it quotes (they may hold a
    token)."""
    message = error.message if isinstance(error, HttpProcessingError) else str(error)
    head = str(message or "").strip().split("\n\n", 1)[0]
    reason = " ".join(line.strip() for line in head.splitlines())
    reason = _QUOTED_BYTES.sub("", reason).strip().rstrip(":.").strip()
    return reason[:MAX_REASON_CHARS] or type(error).__name__


def http_exception_response(
    request: web.BaseRequest, error: web.HTTPException
) -> web.StreamResponse:
    """aiohttp's ``HTTPException`` (404 of the router, 405, 417 of an expectation, 413) in the
    gateway's shape; ``Allow`` and ``Retry-After`` kept."""
    kept = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
    return refusal_response(
        request,
        error.status,
        error.reason.lower().replace(" ", "_"),
        error.text or error.reason,
        headers=kept,
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal and failure of a handler as a JSON error (HTML on the pages), and a body
    that broke part way ended (:func:`end_unread_body`) whoever answered it."""
    response = await _answer(request, handler)
    if request.content.exception() is not None:
        end_unread_body(request)
        response.force_close()
    return response


async def _answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handle_or_abort(handler, request)
    except ResponseAborted:
        raise
    except HttpError as error:
        return refusal_response(request, error.status, error.code, error.message, **error.extra)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return http_exception_response(request, error)
    except Exception as error:
        if client_gone(request, error):
            log.info("client went away during %s %s: %s", request.method, request.path, error)
            # Never sent (the connection is gone); counted as what it was, not as a 500.
            return web.Response(status=CLIENT_GONE_STATUS)
        if isinstance(error, web.RequestPayloadError | HttpProcessingError):
            # The body's framing or encoding broke part way (a bad chunk, a bad gzip stream).
            reason = reason_of(error)
            log.warning("malformed body in %s %s: %s", request.method, request.path, reason)
            return refusal_response(
                request, 400, "malformed_body", f"the request body could not be read: {reason}"
            )
        if is_transient_db_error(error):
            log.warning("database unreachable for %s %s: %s", request.method, request.path, error)
            return refusal_response(
                request,
                503,
                "database_unavailable",
                "the database is unreachable; retry later",
                retry_after=5,
            )
        log.exception("unexpected error answering %s %s", request.method, request.path)
        return refusal_response(
            request, 500, "internal_error", "an unexpected error occurred; it has been logged"
        )
