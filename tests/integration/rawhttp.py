"""HTTP by hand over a socket, for what a polite client never does: lie about sizes, stop
sending half way, put odd bytes in part headers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.integration.waiting import PATIENCE


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


async def read_answer(
    reader: asyncio.StreamReader, timeout: float = PATIENCE, *, to_head: bool = False
) -> RawAnswer:
    """One HTTP/1.1 answer; interim ``100 Continue`` answers are skipped. ``to_head``: the answer
    to a HEAD, which has no body whatever its ``Content-Length`` says (RFC 9110 §9.3.2)."""
    async with asyncio.timeout(timeout):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            if status != 100:
                break
        length = 0 if to_head else int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
    return RawAnswer(status, headers, body)


async def connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(base_url)
    return await asyncio.open_connection(parts.hostname, parts.port)


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: gateway",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    base_url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> RawAnswer:
    reader, writer = await connect(base_url)
    try:
        writer.write(request_head(method, path, {**headers, "Content-Length": str(len(body))}))
        writer.write(body)
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


async def send_chunked(
    base_url: str, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> RawAnswer:
    """``chunks`` sent chunked (``Transfer-Encoding: chunked``), with the final empty chunk."""
    reader, writer = await connect(base_url)
    try:
        writer.write(request_head(method, path, {**headers, "Transfer-Encoding": "chunked"}))
        writer.write(chunked(*chunks))
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


BOUNDARY = "dc-test-boundary-7f3a"


def multipart_file(content: bytes, disposition: str) -> tuple[dict[str, str], bytes]:
    """A multipart/form-data body with one part whose Content-Disposition is ``disposition``
    exactly as given (raw bytes, no client escaping)."""
    body = (
        (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, body


@dataclass
class RawExchange:
    """Everything a server sent on one connection until it closed it (or went quiet)."""

    status: int
    headers: dict[str, str]
    #: The bytes after the first answer's head, whatever they are.
    rest: bytes
    #: Whether the server closed the connection (rather than going quiet).
    closed: bool

    @property
    def declared_length(self) -> int | None:
        length = self.headers.get("content-length")
        return int(length) if length is not None else None


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


async def read_until_closed(
    reader: asyncio.StreamReader, *, quiet: float = 5.0, timeout: float = PATIENCE
) -> RawExchange:
    """The first answer's head and every byte after it until the server closes the connection,
    or sends nothing for ``quiet`` seconds (then ``closed`` is false)."""
    async with asyncio.timeout(timeout):
        head = await reader.readuntil(b"\r\n\r\n")
    status, headers = parse_head(head)
    rest = bytearray()
    closed = False
    while True:
        try:
            data = await asyncio.wait_for(reader.read(65536), quiet)
        except TimeoutError:
            break
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        rest += data
    return RawExchange(status, headers, bytes(rest), closed)


async def send_in_pieces(
    writer: asyncio.StreamWriter, pieces: list[bytes], pause: float = 0.2
) -> None:
    """Write ``pieces`` one by one, draining and pausing ``pause`` seconds between them."""
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(pause)
        writer.write(piece)
        await writer.drain()


def chunked(*chunks: bytes) -> bytes:
    """``chunks`` in HTTP/1.1 chunked framing, with the final empty chunk."""
    framed = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk)
    return framed + b"0\r\n\r\n"
