"""The gateway's HTTP edges found by a hostile test (issue 15), against the real gateway over raw
sockets: a HEAD never gets a body; odd header bytes, form encodings and broken or unframed
bodies are refused in the gateway's shape (HTML on the pages) with one WARNING line at most and
no traceback; any Expect but 100-continue is a JSON 417, and a JSON body too large for its
route is refused before 100 Continue."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import uuid
import zlib
from urllib.parse import urlsplit

import pytest

from services.runtime.links import sign_link
from shared.config import Settings
from tests.integration import rawhttp
from tests.integration.client import Api, Party
from tests.integration.system import System
from tests.integration.test_http_edges import GatewayLog, _opened, _stored_file
from tests.integration.waiting import PATIENCE

DEMAND = {
    "type": "submit_demand",
    "contact": {"name": "Ann", "phone": "+1 555 0100", "email": "ann@example.com"},
    "demands": "Five pages",
}


def _settings(system: System) -> Settings:
    return Settings(**{k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")})


def _link(system: System, delivery_id: str, party: Party) -> str:
    return sign_link(_settings(system), delivery_id, party.sub, party.role)


async def _exchange(
    system: System, raw: bytes, answers: int, heads: int = 0
) -> list[rawhttp.RawAnswer]:
    """Send ``raw`` on one connection and read ``answers`` answers from it, the first
    ``heads`` of them answers to HEAD requests."""
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(raw)
        await writer.drain()
        return [
            await rawhttp.read_answer(reader, to_head=index < heads) for index in range(answers)
        ]
    finally:
        writer.close()


def _problems(log: GatewayLog) -> list[dict]:
    return [r for r in log.records() if r.get("level") in ("error", "critical")]


# --- 1: HEAD gets headers only --------------------------------------------------------------


async def test_head_then_get_on_one_connection_stays_in_step_on_every_get_route(
    api: Api, system: System, parties: dict[str, Party]
):
    customer = parties["customer"]
    delivery_id, attachment_id, content = await _stored_file(api, parties, 300 * 1024)
    token = _link(system, delivery_id, customer)
    routes = [
        (f"/v1/attachments/{attachment_id}", customer.headers),
        (f"/d/{delivery_id}/files/{attachment_id}?t={token}", {}),
        (f"/d/{delivery_id}?t={token}", {}),
        (f"/v1/deliveries/{delivery_id}", customer.headers),
        ("/healthz", {}),
        ("/openapi.json", {}),
        ("/docs", {}),
        ("/metrics", {}),
    ]
    for path, headers in routes:
        raw = rawhttp.request_head("HEAD", path, headers) + rawhttp.request_head(
            "GET", path, headers
        )
        # Then a third request: a body after the HEAD's head would be read as the GET's answer.
        raw += rawhttp.request_head("GET", "/healthz", {})
        head, got, health = await _exchange(system, raw, 3, heads=1)
        assert head.status == got.status == 200, (path, head.status, got.status)
        assert got.body.startswith(b"HTTP/") is False and health.body == b'{"status": "ok"}'
        assert head.body == b"", path
        if path != "/metrics":  # the metrics change between the two
            assert head.headers["content-length"] == str(len(got.body)), path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        if "attachments" in path or "/files/" in path:
            assert got.body == content


# --- 2 is in test_duration_and_token_edges.py; 3: header bytes ------------------------------


@pytest.mark.parametrize(
    "key",
    [b"\xff", b"\x80", b"\xff\xfe", b"caf\xc3\xa9", b"a\tb", b"\xed\xa0\x80", b"x" * 201],
    ids=["ff", "80", "fffe", "utf8-e-acute", "tab", "utf8-surrogate", "too-long"],
)
async def test_an_idempotency_key_that_is_not_printable_ascii_is_a_400(
    api: Api, system: System, parties: dict[str, Party], key: bytes
):
    delivery_id = await _opened(api, parties)
    log = GatewayLog(system)
    body = json.dumps(DEMAND).encode()
    head = rawhttp.request_head(
        "POST",
        f"/v1/deliveries/{delivery_id}/commands",
        {**parties["customer"].headers, "Content-Length": str(len(body))},
    )
    raw = head.replace(b"\r\n\r\n", b"\r\nIdempotency-Key: " + key + b"\r\n\r\n", 1) + body
    (answer,) = await _exchange(system, raw, 1)
    assert answer.status == 400, answer
    refusal = json.loads(answer.body)
    assert refusal["error"] == "invalid_idempotency_key" and "printable ASCII" in refusal["message"]
    assert not _problems(log)
    log.assert_no_traceback()


async def test_a_printable_ascii_idempotency_key_is_used_verbatim(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    key = f'"{uuid.uuid4().hex} ~!"'  # a Structured Field String, quotes and all
    path = f"/v1/deliveries/{delivery_id}/commands"
    ids = set()
    for _ in range(2):
        status, answer = await api.request(
            "POST", path, parties["customer"], json=DEMAND, headers={"Idempotency-Key": key}
        )
        assert status == 202, answer
        ids.add(answer["command_id"])
    assert len(ids) == 1


# --- 4, 9: page forms that cannot be read are a 400 page ------------------------------------


def _form_bodies() -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """Content-Type, body and extra headers of forms aiohttp's form reader cannot read."""
    boundary = "b0undary"
    multipart = f"multipart/form-data; boundary={boundary}"

    def part(headers: str, value: bytes = b"x") -> bytes:
        return (
            f'--{boundary}\r\nContent-Disposition: form-data; name="t"\r\n{headers}\r\n'.encode()
            + value
            + f"\r\n--{boundary}--\r\n".encode()
        )

    return {
        "unknown form charset": (
            "application/x-www-form-urlencoded; charset=nope",
            b"t=x&csrf=y",
            {},
        ),
        "unknown transfer encoding": (
            multipart,
            part("Content-Transfer-Encoding: x-weird\r\n"),
            {},
        ),
        "unknown part charset": (multipart, part("Content-Type: text/plain; charset=nope\r\n"), {}),
        "utf-16 text undecodable": (
            "application/x-www-form-urlencoded; charset=utf-16",
            b"t=x",
            {},
        ),
        "broken gzip body": (
            "application/x-www-form-urlencoded",
            b"\x1f\x8b\x08\x00garbage-not-deflate",
            {"Content-Encoding": "gzip"},
        ),
    }


@pytest.mark.parametrize("case", list(_form_bodies()))
async def test_a_page_form_that_cannot_be_read_is_a_400_page_and_one_warning(
    api: Api, system: System, parties: dict[str, Party], case: str
):
    delivery_id = await _opened(api, parties)
    content_type, body, extra = _form_bodies()[case]
    log = GatewayLog(system)
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **extra}
    raw = rawhttp.request_head("POST", f"/d/{delivery_id}/commands", headers) + body
    (answer,) = await _exchange(system, raw, 1)
    assert answer.status == 400, (case, answer)
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    if "gzip body" not in case:
        assert b"This form could not be read" in answer.body
    await asyncio.sleep(0)  # the log line is written before the answer; nothing to wait for
    warnings = [r for r in log.records() if r.get("level") == "warning"]
    assert len(warnings) <= 1, warnings
    assert not _problems(log), log.text()[-2000:]
    log.assert_no_traceback()


async def test_every_refusal_on_a_page_route_is_html(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    for method, path in [
        ("PUT", f"/d/{delivery_id}/commands"),  # the router's 405
        ("DELETE", f"/d/{delivery_id}"),
        ("GET", "/admin?t=nope"),
        ("GET", f"/d/{delivery_id}?t=nope"),
    ]:
        (answer,) = await _exchange(
            system, rawhttp.request_head(method, path, {"Content-Length": "0"}), 1
        )
        assert answer.status in (403, 405), (method, path, answer.status)
        assert answer.headers["content-type"].startswith("text/html"), (method, path)


# --- 5, 7: broken compressed bodies ---------------------------------------------------------


def _broken_bodies() -> dict[str, tuple[bytes, str, bool]]:
    """Body, Content-Encoding, and whether to send it chunked."""
    whole = gzip.compress(json.dumps(DEMAND).encode())
    bad_crc = whole[:-8] + bytes([whole[-8] ^ 0xFF]) + whole[-7:]
    deflate = zlib.compress(json.dumps(DEMAND).encode())
    return {
        "gzip garbage": (b"\x1f\x8b\x08\x00" + b"garbage" * 20, "gzip", False),
        "gzip bad crc": (bad_crc, "gzip", False),
        "gzip broken later": (whole[:20] + b"\x00" * 40 + whole[20:], "gzip", False),
        "deflate garbage": (b"\x78\x9c" + b"garbage" * 20, "deflate", False),
        "deflate cut short": (deflate[:-6], "deflate", False),
        "chunked gzip garbage": (b"\x1f\x8b\x08\x00" + b"garbage" * 20, "gzip", True),
    }


@pytest.mark.parametrize("case", list(_broken_bodies()))
async def test_a_broken_compressed_body_is_one_warning_without_a_traceback(
    api: Api, system: System, parties: dict[str, Party], case: str
):
    delivery_id = await _opened(api, parties)
    body, coding, chunked = _broken_bodies()[case]
    log = GatewayLog(system)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))}
    head = rawhttp.request_head(
        "POST",
        f"/v1/deliveries/{delivery_id}/commands",
        {**parties["customer"].headers, "Content-Encoding": coding, **framing},
    )
    raw = head + (rawhttp.chunked(body[:10], body[10:]) if chunked else body)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(raw)
        await writer.drain()
        exchange = await rawhttp.read_until_closed(reader, quiet=PATIENCE)
    finally:
        writer.close()
    assert exchange.status == 400 and exchange.closed, exchange
    # A deflate stream cut short is found at the body's end, by aiohttp's parser itself.
    codes = {"malformed_body", "malformed_request"} if "cut short" in case else {"malformed_body"}
    assert json.loads(exchange.rest)["error"] in codes
    # aiohttp used to drain the broken body after the answer and log "Unhandled exception".
    warnings = [r for r in log.records() if r.get("level") == "warning"]
    assert len(warnings) == 1, warnings
    assert not _problems(log), log.text()[-2000:]
    log.assert_no_traceback()


# --- 6: a body without framing --------------------------------------------------------------


def _raw_socket(system: System) -> socket.socket:
    parts = urlsplit(system.base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE)
    return sock


@pytest.mark.parametrize(
    "version, connection", [("HTTP/1.1", "close"), ("HTTP/1.0", None), ("HTTP/1.1", None)]
)
@pytest.mark.parametrize("route", ["api", "page"])
async def test_a_body_without_length_or_chunks_is_a_411_even_after_a_half_close(
    api: Api, system: System, parties: dict[str, Party], version: str, connection, route: str
):
    delivery_id = await _opened(api, parties)
    if route == "api":
        path, headers = f"/v1/deliveries/{delivery_id}/commands", dict(parties["customer"].headers)
    else:
        path, headers = f"/d/{delivery_id}/commands", {}
    if connection:
        headers["Connection"] = connection
    lines = [f"POST {path} {version}", "Host: gateway", *(f"{k}: {v}" for k, v in headers.items())]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + json.dumps(DEMAND).encode()

    def exchange() -> bytes:
        with _raw_socket(system) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)  # the client says it is done, and waits
            received = b""
            while data := sock.recv(65536):
                received += data
            return received

    received = await asyncio.to_thread(exchange)
    assert received, "nothing was answered to a client that half-closed"
    head, _, body = received.partition(b"\r\n\r\n")
    if head.split(b" ")[1] == b"400":
        # Head and body in one packet on a kept-alive connection: aiohttp's parser refuses the
        # whole packet (the body is no request line) before the request reaches a route.
        assert version == "HTTP/1.1" and connection is None, received[:300]
        refusal = json.loads(body)
        assert (
            refusal["error"] == "malformed_request_line" and "Content-Length" in refusal["message"]
        )
        return
    assert head.split(b" ")[1] == b"411", received[:300]
    if route == "api" or connection == "close" or version == "HTTP/1.0":
        # After a request that closes, aiohttp's parser refuses the bytes itself, before a
        # route is known: the gateway's JSON, as for every request it cannot parse.
        assert json.loads(body)["error"] == "length_required"
    else:
        assert b"text/html" in head


# --- 8: Expect --------------------------------------------------------------------------------


async def test_an_unknown_expectation_is_a_json_417_on_every_route(
    api: Api, system: System, parties: dict[str, Party]
):
    delivery_id = await _opened(api, parties)
    for method, path in [
        ("GET", "/healthz"),
        ("GET", "/nowhere"),
        ("POST", "/v1/deliveries"),
        ("POST", f"/v1/deliveries/{delivery_id}/commands"),
        ("POST", f"/v1/deliveries/{delivery_id}/attachments"),
        ("GET", f"/v1/deliveries/{delivery_id}"),
    ]:
        for expectation in ("foo", "100-continue, foo", "200-ok"):
            head = rawhttp.request_head(
                method,
                path,
                {**parties["customer"].headers, "Expect": expectation, "Content-Length": "0"},
            )
            (answer,) = await _exchange(system, head, 1)
            assert answer.status == 417, (method, path, expectation, answer)
            assert answer.headers["content-type"].startswith("application/json")
            assert json.loads(answer.body)["error"] == "expectation_failed"


@pytest.mark.parametrize("route", ["open", "command"])
async def test_a_json_body_over_the_cap_is_refused_before_100_continue(
    api: Api, system: System, parties: dict[str, Party], route: str
):
    delivery_id = await _opened(api, parties)
    path, party = {
        "open": ("/v1/deliveries", parties["marketplace"]),
        "command": (f"/v1/deliveries/{delivery_id}/commands", parties["customer"]),
    }[route]
    head = rawhttp.request_head(
        "POST",
        path,
        {**party.headers, "Expect": "100-continue", "Content-Length": str(256 * 1024 + 1)},
    )
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(head)
        await writer.drain()
        async with asyncio.timeout(PATIENCE):
            first = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 413"), first  # not "100 Continue" first

    # Within the cap, 100 Continue comes, and the body is then read.
    body = json.dumps(DEMAND).encode()
    ok = rawhttp.request_head(
        "POST",
        f"/v1/deliveries/{delivery_id}/commands",
        {**parties["customer"].headers, "Expect": "100-continue", "Content-Length": str(len(body))},
    )
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(ok)
        await writer.drain()
        async with asyncio.timeout(PATIENCE):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100"), interim
        writer.write(body)
        await writer.drain()
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 202, answer


@pytest.mark.parametrize("route", ["api", "page"])
async def test_a_head_without_length_on_a_kept_alive_connection_is_a_411_at_once(
    api: Api, system: System, parties: dict[str, Party], route: str
):
    delivery_id = await _opened(api, parties)
    if route == "api":
        path, headers = f"/v1/deliveries/{delivery_id}/commands", parties["customer"].headers
    else:
        path, headers = f"/d/{delivery_id}/commands", {}
    # The body would follow; the answer comes on the head alone, and the connection closes.
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(rawhttp.request_head("POST", path, headers))
        await writer.drain()
        exchange = await rawhttp.read_until_closed(reader, quiet=PATIENCE)
    finally:
        writer.close()
    assert exchange.status == 411 and exchange.closed, exchange
    if route == "api":
        assert json.loads(exchange.rest)["error"] == "length_required"
    else:
        assert exchange.headers["content-type"].startswith("text/html")


# --- page forms past their limits say which limit, and a declared one is refused unread ------


def _many_fields(count: int) -> dict[str, tuple[str, bytes]]:
    """Content-Type and body of a page form with ``count`` fields, in both encodings."""
    boundary = "b0undary"
    multipart = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nx\r\n'.encode()
        for i in range(count)
    )
    return {
        "urlencoded": (
            "application/x-www-form-urlencoded",
            "&".join(f"f{i}=x" for i in range(count)).encode(),
        ),
        "multipart": (
            f"multipart/form-data; boundary={boundary}",
            multipart + f"--{boundary}--\r\n".encode(),
        ),
    }


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
async def test_a_page_form_with_too_many_fields_names_the_field_limit(
    api: Api, system: System, parties: dict[str, Party], encoding: str
):
    """aiohttp refuses a form of more than 1000 fields (``client_max_fields``) with the error it
    raises for too many bytes; the page says which limit was passed, not a file size."""
    delivery_id = await _opened(api, parties)
    content_type, body = _many_fields(1001)[encoding]
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    raw = rawhttp.request_head("POST", f"/d/{delivery_id}/commands", headers) + body
    (answer,) = await _exchange(system, raw, 1)
    assert answer.status == 413, answer
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    assert b"more fields than the 1000 one form may have" in answer.body, answer.body
    assert b"MB" not in answer.body, answer.body


@pytest.mark.parametrize("declared", ["over by one", "a gigabyte"])
async def test_a_page_form_declared_over_its_limit_is_refused_before_its_body(
    api: Api, system: System, parties: dict[str, Party], declared: str
):
    """Without ``Expect``, as with it: the 413 page comes on the head alone, not a byte of the
    body waited for, and says the connection closes (``read_form``). (aiohttp then discards
    what of the body comes for up to its 10 s lingering time before it closes.)"""
    from services.gateway.requests import form_limit

    delivery_id = await _opened(api, parties)
    length = {"over by one": form_limit(_settings(system)) + 1, "a gigabyte": 10**9}[declared]
    head = rawhttp.request_head(
        "POST",
        f"/d/{delivery_id}/commands",
        {"Content-Type": "multipart/form-data; boundary=b0undary", "Content-Length": str(length)},
    )
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(head)
        await writer.drain()
        answer = await rawhttp.read_answer(reader)
    finally:
        writer.close()
    assert answer.status == 413, answer
    assert answer.headers["connection"].lower() == "close", answer.headers
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    assert b"a form may have at most" in answer.body, answer.body
