"""Reading request bodies: framed (a length or chunks), announced (``Expect``), JSON that
parses, keys that cannot become operators or paths in a document, then a pydantic model that
validates."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from services.gateway.context import gateway_of
from services.gateway.errors import Handler, HttpError, refusal_response
from shared.config import Settings

#: Largest JSON body accepted, in bytes.
MAX_JSON_BYTES = 256 * 1024


#: Room for a page form's other fields and framing beside its files, in bytes.
FORM_OVERHEAD_BYTES = 1024 * 1024
#: Methods whose requests carry a body here (every POST route reads one).
BODY_METHODS = frozenset({hdrs.METH_POST, hdrs.METH_PUT, hdrs.METH_PATCH})
#: What aiohttp raises reading a form (``request.post()``) or a multipart body it cannot read,
#: all of it the client's doing: ``LookupError`` (an unknown charset), ``RuntimeError`` (an
#: unknown Content-Transfer-Encoding or Content-Encoding of a part), ``ValueError`` (bad
#: framing, base64, undecodable text), ``zlib.error`` (a part's broken deflate),
#: ``TypeError``/``AssertionError``/``KeyError`` (a part's headers) and the parser's own errors.
MALFORMED_FORM = (
    ValueError,
    LookupError,  # KeyError included
    RuntimeError,
    TypeError,
    AssertionError,
    zlib.error,
    HttpProcessingError,
)


#: Why a request with a body but neither length nor chunks is refused.
LENGTH_REQUIRED = (
    "a request body needs a Content-Length or Transfer-Encoding: chunked; "
    "a body sent without either is not read"
)


#: Content codings of a request body that aiohttp decodes, one layer of them at most.
SUPPORTED_CONTENT_CODINGS = ("gzip", "deflate")
#: Why a body in another content coding is refused.
UNSUPPORTED_CONTENT_CODING = (
    "a request body may be sent as it is, or compressed once with "
    + " or ".join(SUPPORTED_CONTENT_CODINGS)
    + " (Content-Encoding); other codings, and more than one, are not read"
)


def content_codings(request: web.BaseRequest) -> list[str]:
    """The body's content codings in the order applied (RFC 9110 §8.4: a comma-separated
    list, case-insensitive, over every Content-Encoding header)."""
    listed = ",".join(request.headers.getall(hdrs.CONTENT_ENCODING, []))
    return [c for c in (c.strip().lower() for c in listed.split(",")) if c]


@web.middleware
async def framed_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuses a body the gateway would misread, before a byte of it is read:

    - 411 ``length_required`` for a POST, PUT or PATCH with neither ``Content-Length`` nor
      chunked ``Transfer-Encoding``: such a request has no body (RFC 9112 §6.3), and what its
      client sent after the head would be read as the next request (RFC 9110 §15.5.12);
    - 415 ``unsupported_content_encoding``, with ``Accept-Encoding``, for a body in a content
      coding aiohttp does not decode (aiohttp would pass an unknown one such as ``x-gzip`` on
      undecoded) or in a list of more than one, ``identity`` included (it decodes a lone
      coding only) (RFC 9110 §15.5.16, §12.5.3).
    """
    refused: tuple[int, str, str] | None = None
    if request.method in BODY_METHODS and request.content_length is None:
        coding = request.headers.get(hdrs.TRANSFER_ENCODING, "")
        if "chunked" not in coding.lower():
            refused = (411, "length_required", LENGTH_REQUIRED)
    codings = content_codings(request)
    # One coding, named alone, is what aiohttp decodes: "identity, gzip" it would pass on.
    if (
        refused is None
        and codings not in ([], ["identity"])
        and (len(codings) > 1 or codings[0] not in SUPPORTED_CONTENT_CODINGS)
    ):
        refused = (415, "unsupported_content_encoding", UNSUPPORTED_CONTENT_CODING)
    if refused is None:
        return await handler(request)
    response = refusal_response(request, *refused)
    if refused[0] == 415:
        response.headers[hdrs.ACCEPT_ENCODING] = ", ".join(SUPPORTED_CONTENT_CODINGS)
    # What follows the head is not read: nothing of it may be taken for a request.
    response.force_close()
    return response


def expect_continue(
    limit: Callable[[web.Request], int], too_large: Callable[[int], HttpError]
) -> Callable[[web.Request], Awaitable[web.StreamResponse | None]]:
    """An ``expect_handler`` for a route whose body is capped at ``limit(request)`` bytes.

    ``Expect: 100-continue`` (RFC 9110 §10.1.1) is answered ``100 Continue`` only when the
    declared ``Content-Length`` fits; a larger one gets ``too_large(limit)``, and the
    connection is closed, before the client sends its body. Any other expectation answers
    ``417 expectation_failed``, as JSON (HTML on the pages).
    """

    async def expect(request: web.Request) -> web.StreamResponse | None:
        expectation = request.headers.get(hdrs.EXPECT, "")
        if expectation.lower() != "100-continue":
            return expectation_failed(request, expectation)
        cap = limit(request)
        if request.content_length is not None and request.content_length > cap:
            error = too_large(cap)
            response = refusal_response(
                request, error.status, error.code, error.message, **error.extra
            )
            response.force_close()
            return response
        if request.version == HttpVersion11:
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return None

    return expect


def expectation_failed(request: web.Request, expectation: str) -> web.StreamResponse:
    """417 ``expectation_failed``: the only expectation met is ``100-continue``."""
    shown = "".join(c if " " <= c <= "~" else "?" for c in expectation)[:60]
    response = refusal_response(
        request,
        417,
        "expectation_failed",
        f"Expect: {shown!r} cannot be met; the only expectation known is '100-continue'",
    )
    response.force_close()
    return response


def _json_too_large(limit: int) -> HttpError:
    return HttpError(413, "body_too_large", f"a JSON body may have at most {limit} bytes")


#: The expect handler of every route that reads a JSON body.
json_expect = expect_continue(lambda request: MAX_JSON_BYTES, _json_too_large)


def form_limit(settings: Settings) -> int:
    """The largest page form (and aiohttp's ``client_max_size``), in bytes: the attachment
    limit plus ``FORM_OVERHEAD_BYTES`` for the other fields and the multipart framing."""
    return settings.max_attachment_bytes + FORM_OVERHEAD_BYTES


def _form_too_large(limit: int) -> HttpError:
    return HttpError(413, "body_too_large", f"a form may have at most {limit} bytes")


#: The expect handler of the page forms.
form_expect = expect_continue(
    lambda request: form_limit(gateway_of(request).settings), _form_too_large
)


async def read_form(request: web.Request) -> web.StreamResponse | MultiDictProxy[Any]:
    """The page form (``request.post()``), or the refusal to answer at once.

    - a declared ``Content-Length`` over ``form_limit`` is refused (413) before a byte of the
      body is read, the connection closed after the answer, as with ``Expect: 100-continue``
      (``expect_continue``), rather than read up to the cap first;
    - more fields than aiohttp's ``client_max_fields`` (1000 by default) is HttpError 413
      ``too_many_fields`` naming that limit: aiohttp raises the same
      ``HTTPRequestEntityTooLarge`` for it as for too many bytes.
    """
    limit = form_limit(gateway_of(request).settings)
    if request.content_length is not None and request.content_length > limit:
        error = _form_too_large(limit)
        response = refusal_response(request, error.status, error.code, error.message)
        response.force_close()
        return response
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        # aiohttp's own test for too many bytes (``post``, ``read``); otherwise it counted fields.
        if request.content.total_bytes > request.client_max_size:
            raise
        fields = request.client_max_fields
        raise HttpError(
            413,
            "too_many_fields",
            f"The form has more fields than the {fields} one form may have, so nothing was done.",
        ) from None


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
    raw = await read_body(request, MAX_JSON_BYTES, _json_too_large(MAX_JSON_BYTES))
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
    """The hash of a command's body, that tells a retry from a new request under one
    Idempotency-Key (``publishing.accept``).

    Parameters:
      body(dict): The JSON body; key order and spacing do not matter.
      scope(str): Other parts of the request the hash covers, e.g. the delivery id.

    Returns:
      str: SHA-256 in hex of the canonical JSON of ``[scope, body]`` (sorted keys, no spaces).
    """
    canonical = json.dumps([scope, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
