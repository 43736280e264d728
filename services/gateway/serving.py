"""Serving the gateway: aiohttp's connection protocol, answering in the gateway's JSON what
aiohttp refuses before any middleware runs, and the loop that serves until SIGTERM.

aiohttp answers a request it cannot parse (a header over ``max_field_size``, a bad request
line, a bad chunk size, a control character in a header) itself, as ``text/plain``, and logs an
ERROR with a traceback for each: a client could fill the error log at will. No middleware sees
such a request and aiohttp offers no hook for the answer (aio-libs/aiohttp#3287 is open), so
the one method that builds it, ``RequestHandler.handle_error``, is overridden here, and a
runner makes aiohttp's server use that protocol. ``web.run_app`` cannot take another runner,
so :func:`serve` does what it did: set up, listen, wait for SIGTERM or SIGINT, clean up.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http import RawRequestMessage
from aiohttp.http_exceptions import BadStatusLine, ContentEncodingError, LineTooLong

from services.gateway.errors import (
    PAGE_REFUSAL,
    RESPONSE_STARTED,
    ResponseAborted,
    error_response,
    http_exception_response,
    is_page_target,
    reason_of,
)
from services.gateway.requests import (
    LENGTH_REQUIRED,
    SUPPORTED_CONTENT_CODINGS,
    UNSUPPORTED_CONTENT_CODING,
    expectation_failed,
)

log = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection is kept (``web.run_app``'s default).
KEEPALIVE_TIMEOUT_SECONDS = 75.0
#: Seconds in-flight requests get to finish after SIGTERM (``web.run_app``'s default).
SHUTDOWN_TIMEOUT_SECONDS = 60.0


#: Refusals whose status is not aiohttp's 400.
REFUSAL_STATUS = {"length_required": 411, "unsupported_content_encoding": 415}
#: A page's address too long to read, as its refusal page says it (``{limit}`` in bytes).
PAGE_TOO_LONG = (
    "This address is longer than {limit} bytes, more than this server reads, so no page can be "
    "shown for it. A link from an email is far shorter: open it again from the email."
)


def refused_page_target(error: BaseException | None) -> bool:
    """Whether aiohttp's parser refused a request line too long (``LineTooLong``) whose target
    is a page's (``errors.is_page_target``): the error keeps the target's first 100 bytes.
    (A header too long keeps the header instead, and the path is not known then.)"""
    if not isinstance(error, LineTooLong) or not error.args:
        return False
    start = error.args[0]
    if isinstance(start, bytes | bytearray):
        start = bytes(start).decode("latin-1")
    return isinstance(start, str) and is_page_target(start)


def refusal(error: BaseException | None, *, max_line_bytes: int) -> tuple[str, str]:
    """The code and message of the JSON answer to a request aiohttp's parser refused."""
    reason = reason_of(error) if error is not None else "the request could not be parsed"
    if isinstance(error, LineTooLong):
        return (
            "request_head_too_large",
            f"the request line or a header is longer than {max_line_bytes} bytes",
        )
    if reason.startswith("Data after `Connection: close`"):
        # A body sent without Content-Length or chunks after a request that closes: it is
        # no body (RFC 9112 §6.3); answered as framed_bodies answers it when it comes later.
        return "length_required", LENGTH_REQUIRED
    if isinstance(error, ContentEncodingError) and not any(
        coding in reason for coding in SUPPORTED_CONTENT_CODINGS
    ):
        # A coding aiohttp knows but cannot decode here (br, zstd without their libraries):
        # its own message is advice for the operator ("Please install `Brotli`"). A gzip or
        # deflate body that does not decode names its coding: the client's broken body, below.
        # (The request aiohttp hands over here is a stand-in without the client's headers.)
        return "unsupported_content_encoding", UNSUPPORTED_CONTENT_CODING
    if isinstance(error, BadStatusLine):  # BadHttpMethod included
        # Often a body sent without Content-Length or chunks, read as the next request line.
        return "malformed_request_line", (
            f"the request line is malformed: {reason}; a request body needs a Content-Length "
            "or Transfer-Encoding: chunked, or it is read as the next request"
        )
    return "malformed_request", f"the request is malformed: {reason}"


class JsonErrorsProtocol(web.RequestHandler):
    """aiohttp's HTTP/1.1 connection, answering its own refusals with the gateway's JSON
    ``{error, message}`` and logging each in one WARNING line, without a traceback."""

    #: Whether the client half-closed: it sends nothing more, and waits for its answers.
    _peer_done = False

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The answer to a request aiohttp failed: JSON ``{error, message}``, and the
        connection closed after it; a failure is logged with its traceback, a refusal in one line.

        Parameters:
          request(web.BaseRequest): The request (for a parser refusal, aiohttp's stand-in).
          status(int): aiohttp's status: 400 for a refusal, 500 or 504 for a failure.
          exc(BaseException | None): What failed, if known.
          message(str | None): aiohttp's text when there is no ``exc``.

        Raises:
          ConnectionError: When the request's answer had started (:data:`RESPONSE_STARTED`):
            aiohttp then drops the connection.
        """
        if isinstance(exc, ResponseAborted) or RESPONSE_STARTED in request:
            # Headers are out: nothing may follow them. aiohttp drops the connection on this.
            if not isinstance(exc, ResponseAborted):
                log.error(
                    "%s %s failed after its answer started; connection closed",
                    request.method,
                    request.path,
                    exc_info=exc,
                )
            raise ConnectionError("the answer had started; the connection is closed")
        if status >= 500:
            if exc is not None:
                log.error(
                    "unexpected error answering %s %s", request.method, request.path, exc_info=exc
                )
                response = error_response(
                    500, "internal_error", "an unexpected error occurred; it has been logged"
                )
            else:  # aiohttp's own 504: the handler timed out
                response = error_response(
                    status, "timeout", HTTPStatus(status).phrase.lower() + "; retry later"
                )
        else:
            code, text = refusal(exc, max_line_bytes=max(self.max_line_size, self.max_field_size))
            status = REFUSAL_STATUS.get(code, status)
            log.warning(
                "refused a malformed request from %s: %s (%s)",
                request.remote,
                reason_of(exc) if exc is not None else message,
                code,
            )
            page_refusal = getattr(self._manager, "page_refusal", None)
            if page_refusal is not None and refused_page_target(exc):
                # A page's address: the pages' refusal page, with their security headers.
                response = page_refusal(status, PAGE_TOO_LONG.format(limit=self.max_line_size))
            else:
                response = error_response(status, code, text)
            if status == 415:
                response.headers[hdrs.ACCEPT_ENCODING] = ", ".join(SUPPORTED_CONTENT_CODINGS)
        response.force_close()
        return response

    def data_received(self, data: bytes) -> None:
        """asyncio's callback with bytes from the client; fails the body being read when the
        rest of its framing is refused."""
        # aiohttp's C parser drops a body whose framing breaks part way (a bad chunk size in
        # a later packet) without telling the handler reading it, which would then wait for
        # the client forever. Fail that read instead; the error middleware answers 400.
        queued = len(self._messages)
        super().data_received(data)
        request = self._current_request
        if request is None or request.content.is_eof():
            return
        for refused, _ in list(self._messages)[queued:]:
            if not isinstance(refused, RawRequestMessage):
                error = getattr(refused, "exc", None)
                request.content.set_exception(
                    web.RequestPayloadError(reason_of(error) if error else "malformed body")
                )
                # At its end, too: aiohttp then neither drains it after the answer nor answers
                # the refused rest as if it were a request of its own.
                request.content.feed_eof()
                return

    def eof_received(self) -> bool:
        """asyncio's callback for the client's half-close; True keeps the writing side open."""
        # A client that half-closes (SHUT_WR) once its request is sent still waits for the
        # answer. asyncio closes the transport when this returns false (aiohttp's does), and
        # the answer would then go nowhere: unless the connection is idle, keep its writing
        # side open (closed once answered, see finish_response).
        idle = self._waiter is not None and not self._waiter.done() and not self._messages
        if idle:
            return False
        self._peer_done = True
        # A request being read is handled from the next turn of the loop on: look then.
        asyncio.get_running_loop().call_soon(self._close_if_body_cut)
        return True

    def _close_if_body_cut(self) -> None:
        """A body cut short by the half-close never completes: close, so that its reader
        learns the client is gone (``ConnectionResetError``), as on a full close."""
        request = self._current_request
        if request is not None and not request.content.is_eof() and self.transport is not None:
            self.transport.close()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """aiohttp's, then close the connection if the client half-closed and nothing waits."""
        answered = await super().finish_response(request, resp, start_time)
        if self._peer_done and not self._messages:
            self.close()  # nothing more can come: close once this answer is out
        return answered


class JsonErrorsServer(web.Server):
    """aiohttp's protocol factory, making :class:`JsonErrorsProtocol` connections;
    ``page_refusal`` is the app's ``errors.PAGE_REFUSAL``, for a page's address too long."""

    page_refusal: Callable[[int, str], web.StreamResponse] | None = None

    def __call__(self) -> JsonErrorsProtocol:
        return JsonErrorsProtocol(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` serving the application through :class:`JsonErrorsServer`."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # the app's startup, then aiohttp's own server
        app_handler = made.request_handler

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            # What the app raises before its middlewares run, e.g. the 417 of an expectation
            # handler (aiohttp would send its text/plain), answered in the gateway's shape.
            try:
                return await app_handler(request)
            except web.HTTPExpectationFailed:
                return expectation_failed(request, request.headers.get(hdrs.EXPECT, ""))
            except web.HTTPException as error:
                if error.status < 400:
                    raise
                return http_exception_response(request, error)

        server = JsonErrorsServer(
            handle,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **made._kwargs,
        )
        server.page_refusal = self.app.get(PAGE_REFUSAL)
        return server


async def serve(app: web.Application, *, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT, then finish in-flight requests
    (up to ``SHUTDOWN_TIMEOUT_SECONDS``) and run the app's cleanup. ``options`` go to the
    runner (``access_log_format``, ``max_field_size``, ...)."""
    options.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT_SECONDS)
    options.setdefault("shutdown_timeout", SHUTDOWN_TIMEOUT_SECONDS)
    runner = GatewayRunner(app, **options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
