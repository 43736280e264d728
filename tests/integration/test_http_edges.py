"""The gateway's HTTP edges against the real gateway process, over raw sockets: bodies are read
whole however they arrive; a download that fails after its headers closes the connection short
instead of appending an error; what aiohttp refuses itself is answered in JSON; clients that
leave are one log line. The gateway's log is read to show that none of it leaves a traceback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from bson import Binary

from services.runtime.links import sign_link
from shared.config import Settings
from tests.integration import rawhttp
from tests.integration.client import Api, Party
from tests.integration.gateway_support import upload
from tests.integration.system import System
from tests.integration.waiting import PATIENCE, until

#: GridFS's chunk size: files larger than this are stored in several chunks.
GRIDFS_CHUNK_BYTES = 255 * 1024


class GatewayLog:
    """The gateway's log lines written since this object was made."""

    def __init__(self, system: System) -> None:
        self.path: Path = system.services["gateway"].log_path
        self.start = self.path.stat().st_size

    def records(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as log:
            log.seek(self.start)
            lines = log.read().decode("utf-8", "replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def text(self) -> str:
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read().decode("utf-8", "replace")

    def assert_no_traceback(self) -> None:
        assert "Traceback" not in self.text(), self.text()[-3000:]
        assert not [r for r in self.records() if "exception" in r], self.text()[-3000:]


def _metric_count(system: System, route: str, status: str) -> float:
    url = f"{system.base_url}/metrics"
    with urllib.request.urlopen(url, timeout=PATIENCE) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        ours = f'route="{route}"' in line and f'status="{status}"' in line
        if line.startswith("dc_http_requests_total{") and ours:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _opened(api: Api, parties: dict[str, Party]) -> str:
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    return opened["delivery_id"]


# --- kind 1: a body is read whole -------------------------------------------------------------


async def test_a_command_body_sent_in_two_pieces_is_accepted(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    body = b'{"type": "confirm"}'
    assert (len(body[:9]), len(body[9:])) == (9, 10)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        head = rawhttp.request_head(
            "POST",
            f"/v1/deliveries/{delivery_id}/commands",
            {
                **parties["customer"].headers,
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
            },
        )
        await rawhttp.send_in_pieces(writer, [head + body[:9], body[9:]])
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 202, answer.body
    assert "command_id" in json.loads(answer.body)


async def test_chunked_and_byte_by_byte_bodies_are_read_whole(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    body = json.dumps({"type": "open_dispute", "reason": "Late " * 40}).encode()
    headers = {**parties["customer"].headers, "Content-Type": "application/json"}
    path = f"/v1/deliveries/{delivery_id}/commands"
    for pieces in (
        [
            rawhttp.request_head("POST", path, {**headers, "Transfer-Encoding": "chunked"}),
            rawhttp.chunked(body[:30])[:-5],  # without the final chunk
            rawhttp.chunked(body[30:100])[:-5],
            rawhttp.chunked(body[100:]),
        ],
        [rawhttp.request_head("POST", path, {**headers, "Content-Length": str(len(body))})]
        + [body[i : i + 1] for i in range(len(body))],
    ):
        reader, writer = await rawhttp.connect(system.base_url)
        try:
            await rawhttp.send_in_pieces(writer, pieces, pause=0.005)
            answer = await rawhttp.read_answer(reader)
        finally:
            writer.close()
        assert answer.status == 202, answer.body


async def test_a_chunked_json_body_over_the_cap_is_refused_as_it_passes_it(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(
            rawhttp.request_head(
                "POST",
                f"/v1/deliveries/{delivery_id}/commands",
                {**parties["customer"].headers, "Transfer-Encoding": "chunked"},
            )
        )
        piece = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        for _ in range(5):  # 320 KiB, over the 256 KiB cap, and the body never ends
            writer.write(piece)
        await writer.drain()
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 413
    assert json.loads(answer.body)["error"] == "body_too_large"


# --- kind 2: a download never appends a second response ---------------------------------------


async def _stored_file(api: Api, parties: dict[str, Party], size: int) -> tuple[str, str, bytes]:
    """A delivery and an attachment of ``size`` bytes on it: (delivery_id, attachment_id, bytes)."""
    delivery_id = await _opened(api, parties)
    content = b"%PDF-1.4\n" + os.urandom(size - 16) + b"\n%%EOF\n"
    status, answer = await upload(api, delivery_id, parties["customer"], content, "big.pdf")
    assert status == 201, answer
    return delivery_id, answer["attachment_id"], content


def _page_file_path(system: System, delivery_id: str, attachment_id: str, party: Party) -> str:
    values = {k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")}
    token = sign_link(Settings(**values), delivery_id, party.sub, party.role)
    return f"/d/{delivery_id}/files/{attachment_id}?t={token}"


async def _download_raw(system: System, path: str, headers: dict[str, str]) -> rawhttp.RawExchange:
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(rawhttp.request_head("GET", path, headers))
        await writer.drain()
        return await rawhttp.read_until_closed(reader)
    finally:
        writer.close()


def _damages(db, attachment_id: str) -> dict[str, Any]:
    """Ways to damage the third chunk of a stored file of four. (A damaged second chunk is
    found before the headers: the gateway reads one chunk ahead.)"""
    chunk = {"files_id": attachment_id, "n": 2}
    return {
        "deleted": lambda: db.fs.chunks.delete_one(chunk),
        "truncated": lambda: db.fs.chunks.update_one(chunk, {"$set": {"data": Binary(b"x")}}),
        "same length, other bytes": lambda: db.fs.chunks.update_one(
            chunk, {"$set": {"data": Binary(b"\0" * GRIDFS_CHUNK_BYTES)}}
        ),
    }


@pytest.mark.parametrize("damage", ["deleted", "truncated", "same length, other bytes"])
@pytest.mark.parametrize("route", ["api", "page"])
async def test_a_file_damaged_mid_way_closes_the_connection_short_without_a_second_answer(
    api: Api, system: System, parties: dict[str, Party], db, damage: str, route: str
):
    customer = parties["customer"]
    delivery_id, attachment_id, content = await _stored_file(
        api, parties, 3 * GRIDFS_CHUNK_BYTES + 1000
    )
    assert db.fs.chunks.count_documents({"files_id": attachment_id}) == 4
    _damages(db, attachment_id)[damage]()
    log = GatewayLog(system)

    if route == "api":
        exchange = await _download_raw(system, f"/v1/attachments/{attachment_id}", customer.headers)
    else:
        path = _page_file_path(system, delivery_id, attachment_id, customer)
        exchange = await _download_raw(system, path, {})

    # The headers went out before the damage was found: the client is told by a connection
    # that closes before the promised bytes, and never by an error glued to the body.
    assert exchange.status == 200
    assert exchange.closed
    assert exchange.declared_length == len(content)
    assert len(exchange.rest) < len(content)
    assert b"HTTP/1." not in exchange.rest
    assert exchange.rest[:GRIDFS_CHUNK_BYTES] == content[:GRIDFS_CHUNK_BYTES]
    await until(
        lambda: any(attachment_id in r.get("event", "") for r in log.records()),
        "the damaged file is logged",
    )
    damaged = [r for r in log.records() if attachment_id in r.get("event", "")]
    assert len(damaged) == 1 and damaged[0]["level"] == "error", damaged
    log.assert_no_traceback()


@pytest.mark.parametrize("route", ["api", "page"])
async def test_a_file_whose_first_chunk_is_missing_answers_a_clean_error_on_a_live_connection(
    api: Api, system: System, parties: dict[str, Party], db, route: str
):
    customer = parties["customer"]
    delivery_id, attachment_id, _ = await _stored_file(api, parties, 2 * GRIDFS_CHUNK_BYTES)
    db.fs.chunks.delete_one({"files_id": attachment_id, "n": 0})
    if route == "api":
        path, headers = f"/v1/attachments/{attachment_id}", customer.headers
    else:
        path, headers = _page_file_path(system, delivery_id, attachment_id, customer), {}

    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(rawhttp.request_head("GET", path, headers))
        answer = await rawhttp.read_answer(reader)
        # Still in step: the next request on the same connection gets its own answer.
        writer.write(rawhttp.request_head("GET", "/healthz", {}))
        following = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 500
    if route == "api":
        assert answer.headers["content-type"].startswith("application/json")
        assert json.loads(answer.body)["error"] == "attachment_unreadable"
    else:
        assert answer.headers["content-type"].startswith("text/html")
    assert following.status == 200 and json.loads(following.body) == {"status": "ok"}


async def test_an_intact_multi_chunk_file_downloads_whole(
    api: Api, system: System, parties: dict[str, Party]
):
    _, attachment_id, content = await _stored_file(api, parties, 2 * GRIDFS_CHUNK_BYTES + 7)
    status, body = await api.request("GET", f"/v1/attachments/{attachment_id}", parties["isv"])
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(content).hexdigest()


# --- kind 10: every refusal is JSON; bad clients do not fill the error log --------------------

MALFORMED = {
    "a 10 KB header line": (
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"
    ),
    "a malformed request line": b"GET /healthz HTTP/1.1 extra\r\nHost: gateway\r\n\r\n",
    "a request line that is not HTTP": b"HELLO\r\n\r\n",
    "bad chunk framing": (
        b"POST /v1/deliveries HTTP/1.1\r\nHost: gateway\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n"
    ),
    "a control byte in a header value": (
        b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-A: \x01\r\n\r\n"
    ),
    "a space in a header name": b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX A: b\r\n\r\n",
    "an invalid Content-Length": (
        b"POST /v1/deliveries HTTP/1.1\r\nHost: gateway\r\nContent-Length: 1x\r\n\r\n"
    ),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_what_aiohttp_refuses_itself_is_answered_in_json_without_a_traceback(
    system: System, raw: bytes
):
    log = GatewayLog(system)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("application/json")
    refusal = json.loads(answer.body)
    assert set(refusal) == {"error", "message"}
    assert refusal["error"] in {
        "request_head_too_large",
        "malformed_request_line",
        "malformed_request",
    }
    await until(
        lambda: any(r.get("level") == "warning" for r in log.records()), "the refusal is logged"
    )
    warnings = [r for r in log.records() if r.get("level") == "warning"]
    assert len(warnings) == 1, warnings
    assert not [r for r in log.records() if r.get("level") in ("error", "critical")]
    log.assert_no_traceback()


async def test_a_bad_chunk_in_a_later_packet_is_answered_instead_of_hanging(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    log = GatewayLog(system)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        head = rawhttp.request_head(
            "POST",
            f"/v1/deliveries/{delivery_id}/commands",
            {**parties["customer"].headers, "Transfer-Encoding": "chunked"},
        )
        await rawhttp.send_in_pieces(writer, [head + b'3\r\n{"t\r\n', b"zz\r\nabc\r\n"])
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == "malformed_body"
    log.assert_no_traceback()


def _half_sent_request(
    delivery_id: str, parties: dict[str, Party], route: str
) -> tuple[str, bytes, bytes]:
    """(the route's template, the head of a request with a large body, its body)."""
    if route == "upload":
        headers, body = rawhttp.multipart_file(
            b"%PDF-1.4\n" + b"p" * 1_000_000, 'form-data; name="file"; filename="a.pdf"'
        )
        template = "/v1/deliveries/{delivery_id}/attachments"
        path, headers = (
            template.format(delivery_id=delivery_id),
            {
                **parties["customer"].headers,
                **headers,
            },
        )
    elif route == "command":
        body = json.dumps({"type": "open_dispute", "reason": "r" * 200_000}).encode()
        template = "/v1/deliveries/{delivery_id}/commands"
        path = template.format(delivery_id=delivery_id)
        headers = {**parties["customer"].headers, "Content-Type": "application/json"}
    else:  # a page's form
        headers, body = rawhttp.multipart_file(
            b"p" * 1_000_000, 'form-data; name="file"; filename="a.pdf"'
        )
        template = "/d/{delivery_id}/commands"
        path = template.format(delivery_id=delivery_id)
    head = rawhttp.request_head("POST", path, {**headers, "Content-Length": str(len(body))})
    return template, head, body


@pytest.mark.parametrize("route", ["upload", "command", "page form"])
async def test_a_body_dropped_half_way_is_one_line_without_a_traceback_or_a_500(
    api: Api, system: System, parties: dict[str, Party], route: str
):
    delivery_id = await _opened(api, parties)
    template, head, body = _half_sent_request(delivery_id, parties, route)
    failures_before = _metric_count(system, template, "500")
    log = GatewayLog(system)
    reader, writer = await rawhttp.connect(system.base_url)
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(0.5)  # the gateway is reading the body when the client goes
    writer.close()

    await until(
        lambda: any("went away" in r.get("event", "") for r in log.records()),
        "the client's leaving is logged",
    )
    gone = [r for r in log.records() if "went away" in r.get("event", "")]
    assert len(gone) == 1 and gone[0]["level"] in ("info", "warning"), gone
    assert not [r for r in log.records() if r.get("level") in ("error", "critical")]
    log.assert_no_traceback()
    assert _metric_count(system, template, "500") == failures_before
