"""The gateway's HTTP edges on a small app served the gateway's way (``serving.GatewayRunner``),
without broker or database: bodies read whole, answers that never follow a started one,
aiohttp's own refusals in JSON, clients that leave. Raw sockets, so nothing is tidied up by a
client library."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, LineTooLong
from gridfs.errors import CorruptGridFile
from pymongo.errors import NetworkTimeout

from services.gateway import downloads
from services.gateway.app import refusal_page
from services.gateway.errors import PAGE_REFUSAL, json_errors, remember_started
from services.gateway.pages.errors import PAGE_HEADERS
from services.gateway.requests import MAX_JSON_BYTES, json_body
from services.gateway.serving import GatewayRunner, refused_page_target
from tests.integration import rawhttp

CHUNK = b"x" * 1000
BIG_CHUNK = b"L" * 1024 * 1024
#: A file of three chunks, as the fake GridFS holds it.
FILE = [CHUNK, CHUNK, CHUNK]


class FakeStream:
    """A GridFS download stream whose chunks are bytes or exceptions to raise in their place."""

    def __init__(self, chunks: list[bytes | BaseException]) -> None:
        self.chunks = list(chunks)

    async def readchunk(self) -> bytes:
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, BaseException):
            raise chunk
        return chunk


def fake_bucket(files: dict[str, list[bytes | BaseException]]):
    class Bucket:
        def __init__(self, db: object) -> None:
            pass

        async def open_download_stream(self, file_id: str) -> FakeStream:
            return FakeStream(files[file_id])

    return Bucket


async def echo(request: web.Request) -> web.Response:
    return web.json_response(await json_body(request))


async def file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    size = {"short": 2000, "large": 64 * len(BIG_CHUNK)}.get(name, 3000)
    record = {"_id": name, "size": size, "sha256": None}
    return await downloads.send_file(request, None, record, {"Content-Type": "text/plain"})


async def broken_stream(request: web.Request) -> web.StreamResponse:
    """Any handler that starts a response and then fails: the error middleware may not answer."""
    response = web.StreamResponse(headers={"Content-Length": "100"})
    await response.prepare(request)
    await response.write(b"y" * 10)
    raise RuntimeError("broken after the headers")


async def slow_body(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({})


@pytest.fixture
async def base_url(monkeypatch) -> AsyncIterator[str]:
    monkeypatch.setattr(
        downloads,
        "AsyncGridFSBucket",
        fake_bucket(
            {
                "whole": list(FILE),
                "first_missing": [CorruptGridFile("Missing chunk: expected chunk #0")],
                "times_out": [CHUNK, CHUNK, NetworkTimeout("timed out")],
                "corrupt_later": [CHUNK, CHUNK, CorruptGridFile("no chunk #2")],
                "short": [CHUNK, CHUNK, CHUNK],  # 3000 bytes where 2000 were recorded
                "large": [BIG_CHUNK] * 64,
            }
        ),
    )
    app = web.Application(middlewares=[json_errors])
    app.on_response_prepare.append(remember_started)
    app.router.add_post("/echo", echo)
    app.router.add_get("/file/{name}", file)
    app.router.add_get("/broken", broken_stream)
    app.router.add_post("/slow", slow_body)
    # A test's connection may be left lingering (aiohttp drains a refused body for up to
    # 10 s); the test is over, so cleanup need not wait for it.
    runner = GatewayRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def _problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records with a traceback or at ERROR and above."""
    return [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --- bodies are read whole -------------------------------------------------------------------


async def test_a_json_body_in_two_pieces_is_read_whole(base_url: str):
    body = b'{"type": "confirm"}'
    reader, writer = await rawhttp.connect(base_url)
    try:
        head = rawhttp.request_head("POST", "/echo", {"Content-Length": str(len(body))})
        await rawhttp.send_in_pieces(writer, [head + body[:9], body[9:]])
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 200, answer.body
    assert json.loads(answer.body) == {"type": "confirm"}


async def test_chunked_and_trickled_bodies_are_read_whole(base_url: str):
    body = json.dumps({"type": "request_changes", "reason": "r" * 300}).encode()
    for pieces in (
        # chunked, chunks arriving apart
        [
            rawhttp.request_head("POST", "/echo", {"Transfer-Encoding": "chunked"}),
            rawhttp.chunked(body[:50])[:-5],
            rawhttp.chunked(body[50:]),
        ],
        # byte by byte
        [rawhttp.request_head("POST", "/echo", {"Content-Length": str(len(body))})]
        + [body[i : i + 1] for i in range(len(body))],
    ):
        reader, writer = await rawhttp.connect(base_url)
        try:
            await rawhttp.send_in_pieces(writer, pieces, pause=0.001)
            answer = await rawhttp.read_answer(reader)
        finally:
            writer.close()
        assert answer.status == 200, answer.body
        assert json.loads(answer.body) == json.loads(body)


async def test_a_chunked_body_over_the_cap_is_refused_without_reading_it_all(base_url: str):
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(rawhttp.request_head("POST", "/echo", {"Transfer-Encoding": "chunked"}))
        piece = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        # Just over the cap, and never the final chunk: the answer cannot wait for the end.
        for _ in range(MAX_JSON_BYTES // (64 * 1024) + 1):
            writer.write(piece)
        await writer.drain()
        answer = await rawhttp.read_answer(reader, timeout=10)
    finally:
        writer.close()
    assert answer.status == 413
    assert json.loads(answer.body)["error"] == "body_too_large"


# --- a started answer is never followed by another ------------------------------------------


async def test_a_file_whose_first_chunk_cannot_be_read_answers_a_clean_json_error(
    base_url: str,
):
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(rawhttp.request_head("GET", "/file/first_missing", {}))
        answer = await rawhttp.read_answer(reader)
        assert answer.status == 500
        assert answer.headers["content-type"].startswith("application/json")
        assert json.loads(answer.body)["error"] == "attachment_unreadable"
        # The connection is still in step: the next request on it gets its own answer.
        writer.write(rawhttp.request_head("GET", "/file/whole", {}))
        following = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert following.status == 200 and following.body == b"".join(FILE)


@pytest.mark.parametrize("name", ["times_out", "corrupt_later", "short"])
async def test_a_file_failing_after_its_headers_closes_the_connection_short(
    base_url: str, name: str, caplog: pytest.LogCaptureFixture
):
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(rawhttp.request_head("GET", f"/file/{name}", {}))
        exchange = await rawhttp.read_until_closed(reader)
    finally:
        writer.close()
    assert exchange.status == 200
    assert exchange.closed
    assert len(exchange.rest) < exchange.declared_length
    assert b"HTTP/1." not in exchange.rest
    # One line about it, without a traceback: it is the data or the database, not the code.
    assert not [r for r in caplog.records if r.exc_info]
    assert [r for r in caplog.records if r.name == "services.gateway.downloads"]


async def test_no_handler_failing_after_its_headers_gets_a_second_answer(base_url: str):
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(rawhttp.request_head("GET", "/broken", {}))
        exchange = await rawhttp.read_until_closed(reader)
    finally:
        writer.close()
    assert exchange.status == 200 and exchange.closed
    assert exchange.rest == b"y" * 10


# --- aiohttp's own refusals are JSON, logged in one line ------------------------------------

MALFORMED = {
    "a 10 KB header": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n",
    "a 10 KB request line": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "not HTTP": b"GARBAGE\r\n\r\n",
    "a bad request line": b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "a bad chunk size": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"
    ),
    "a control character in a header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "a space in a header name": b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "a length and chunks": (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_request_aiohttp_cannot_parse_answers_json_and_logs_one_warning(
    base_url: str, raw: bytes, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert 400 <= answer.status < 500
    assert answer.headers["content-type"].startswith("application/json")
    refusal = json.loads(answer.body)
    assert set(refusal) == {"error", "message"}
    assert not _problems(caplog)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


async def test_a_pages_address_too_long_is_the_pages_refusal_with_their_headers(
    caplog: pytest.LogCaptureFixture,
):
    """A 100 KB ``/me`` query is refused before any handler; still the pages' error page with
    their Content-Security-Policy, as the app's PAGE_REFUSAL renders it; the API's stays JSON."""
    app = web.Application(middlewares=[json_errors])
    app[PAGE_REFUSAL] = refusal_page
    runner = GatewayRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    answers = {}
    try:
        for target in (
            "/me?t=" + "a" * 100_000,
            "/d/" + "0" * 9000,
            "/v1/deliveries?q=" + "a" * 9000,
        ):
            reader, writer = await rawhttp.connect(f"http://{host}:{port}")
            try:
                writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                await writer.drain()
                answers[target[:3]] = await rawhttp.read_answer(reader)
            finally:
                writer.close()
    finally:
        await runner.cleanup()
    for page in ("/me", "/d/"):
        answer = answers[page]
        assert answer.status == 400
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["content-security-policy"] == PAGE_HEADERS["Content-Security-Policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert b"This address is longer than 8190 bytes" in answer.body
    assert json.loads(answers["/v1"].body)["error"] == "request_head_too_large"
    assert not _problems(caplog)


def test_only_a_request_line_too_long_names_the_page_it_was_for():
    assert refused_page_target(LineTooLong(bytearray(b"/me?t=aaa..."), 8190))
    assert refused_page_target(LineTooLong(b"/admin/scorecards?t=a...", 8190))
    assert not refused_page_target(LineTooLong(b"/v1/deliveries?x...", 8190))
    assert not refused_page_target(LineTooLong(b"/meeting...", 8190))
    assert not refused_page_target(BadStatusLine("GARBAGE"))
    assert not refused_page_target(None)


async def test_a_bad_chunk_arriving_while_the_body_is_read_answers_instead_of_hanging(
    base_url: str, caplog: pytest.LogCaptureFixture
):
    reader, writer = await rawhttp.connect(base_url)
    try:
        head = rawhttp.request_head("POST", "/echo", {"Transfer-Encoding": "chunked"})
        await rawhttp.send_in_pieces(writer, [head + b"3\r\nabc\r\n", b"zz\r\nabc\r\n"])
        answer = await rawhttp.read_answer(reader, timeout=10)
    finally:
        writer.close()
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == "malformed_body"
    assert not _problems(caplog)


# --- clients that leave ------------------------------------------------------------------------


async def test_a_client_leaving_mid_body_is_one_line_not_a_500(
    base_url: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    reader, writer = await rawhttp.connect(base_url)
    writer.write(rawhttp.request_head("POST", "/slow", {"Content-Length": "100000"}))
    writer.write(b"z" * 5000)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()

    async def logged() -> list[logging.LogRecord]:
        while not (gone := [r for r in caplog.records if "went away" in r.getMessage()]):
            await asyncio.sleep(0.02)
        return gone

    gone = await asyncio.wait_for(logged(), 10)
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    assert not _problems(caplog)
    assert not [r for r in caplog.records if " 500 " in r.getMessage()]


async def test_a_client_leaving_mid_download_is_one_line_not_an_error(
    base_url: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    reader, writer = await rawhttp.connect(base_url)
    writer.write(rawhttp.request_head("GET", "/file/large", {}))
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(1024)
    writer.close()  # 64 MiB announced, a few read

    async def logged() -> list[logging.LogRecord]:
        while not (gone := [r for r in caplog.records if "went away" in r.getMessage()]):
            await asyncio.sleep(0.02)
        return gone

    gone = await asyncio.wait_for(logged(), 10)
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    assert not _problems(caplog)


# --- HEAD gets headers only ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["whole", "large", "first_missing"])
async def test_head_then_get_on_one_connection_stays_in_step(base_url: str, name: str):
    # aiohttp routes HEAD to the GET handler; a file's body after the HEAD's head would be
    # read as the next answer. The HEAD reads no content, so even a damaged file's HEAD is 200.
    reader, writer = await rawhttp.connect(base_url)
    try:
        writer.write(
            rawhttp.request_head("HEAD", f"/file/{name}", {})
            + rawhttp.request_head("GET", "/file/whole", {})
        )
        head = await rawhttp.read_answer(reader, to_head=True)
        following = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    size = {"large": 64 * len(BIG_CHUNK)}.get(name, 3000)
    assert head.status == 200 and head.headers["content-length"] == str(size)
    assert following.status == 200 and following.body == b"".join(FILE)
