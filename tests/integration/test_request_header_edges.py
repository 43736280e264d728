"""Request headers that change how a body is read, against the real gateway over raw sockets
(issue 15, second hostile pass): a body in a content coding the gateway does not decode, or in
more than one, is refused with 415 before it is read, never taken undecoded; a request with
two Idempotency-Keys is refused, never keyed by whichever came first."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from tests.integration import rawhttp
from tests.integration.client import Api, Party
from tests.integration.system import System
from tests.integration.test_http_edges import GatewayLog, _opened

DISPUTE = json.dumps({"type": "open_dispute", "reason": "late"}).encode()
#: No time in the gzip header (mtime=0): the same bytes in every process, so the same test ids.
GZIPPED = gzip.compress(DISPUTE, mtime=0)


def _request(path: str, party: Party, body: bytes, *headers: tuple[str, str]) -> bytes:
    """A POST of ``body`` with ``headers`` written as given: a name may repeat."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: gateway",
        *(f"{name}: {value}" for name, value in party.headers.items()),
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _answer(system: System, raw: bytes) -> rawhttp.RawAnswer:
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(raw)
        await writer.drain()
        return await rawhttp.read_answer(reader)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("codings", "body"),
    [
        # aiohttp passed an unknown coding on undecoded: the gzip bytes were read as JSON.
        ([("Content-Encoding", "x-gzip")], GZIPPED),
        ([("Content-Encoding", "foo")], DISPUTE),
        ([("Content-Encoding", "compress")], DISPUTE),
        # Two layers: aiohttp decodes one.
        ([("Content-Encoding", "gzip, gzip")], gzip.compress(GZIPPED, mtime=0)),
        ([("Content-Encoding", "gzip"), ("Content-Encoding", "deflate")], DISPUTE),
        # aiohttp decodes a lone coding only: this gzip body would be read as JSON.
        ([("Content-Encoding", "identity, gzip")], GZIPPED),
        # Known to aiohttp, but not decodable here without their libraries.
        ([("Content-Encoding", "br")], b"\x0b\x02\x80{}\x03"),
        ([("Content-Encoding", "zstd")], b"(\xb5/\xfd\x00\x00\x01\x00\x00"),
    ],
    ids=[
        "x-gzip",
        "unknown",
        "compress",
        "gzip-twice",
        "two-headers",
        "identity-and-gzip",
        "br",
        "zstd",
    ],
)
async def test_a_body_in_a_coding_not_decoded_here_is_a_415_naming_the_supported_ones(
    api: Api, system: System, parties: dict[str, Party], codings, body: bytes
):
    delivery_id = await _opened(api, parties)
    log = GatewayLog(system)
    answer = await _answer(
        system,
        _request(f"/v1/deliveries/{delivery_id}/commands", parties["customer"], body, *codings),
    )
    assert answer.status == 415, answer
    assert json.loads(answer.body)["error"] == "unsupported_content_encoding"
    assert answer.headers["accept-encoding"] == "gzip, deflate"
    assert "Brotli" not in answer.body.decode()  # aiohttp's advice is for operators
    assert not [r for r in log.records() if r.get("level") in ("error", "critical")]
    log.assert_no_traceback()


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", GZIPPED),
        ("GZIP", GZIPPED),
        ("deflate", zlib.compress(DISPUTE)),
        ("identity", DISPUTE),
    ],
    ids=["gzip", "GZIP", "deflate", "identity"],
)
async def test_a_body_sent_plain_or_compressed_once_is_read(
    api: Api, system: System, parties: dict[str, Party], coding: str, body: bytes
):
    delivery_id = await _opened(api, parties)
    answer = await _answer(
        system,
        _request(
            f"/v1/deliveries/{delivery_id}/commands",
            parties["customer"],
            body,
            ("Content-Encoding", coding),
        ),
    )
    assert answer.status == 202, answer


@pytest.mark.parametrize("keys", [("a", "b"), ("b", "a"), ("same", "same"), ("a", "")], ids=str)
async def test_two_idempotency_keys_are_refused(
    api: Api, system: System, parties: dict[str, Party], keys: tuple[str, str]
):
    delivery_id = await _opened(api, parties)
    answer = await _answer(
        system,
        _request(
            f"/v1/deliveries/{delivery_id}/commands",
            parties["customer"],
            DISPUTE,
            *(("Idempotency-Key", key) for key in keys),
        ),
    )
    assert answer.status == 400, answer
    refused = json.loads(answer.body)
    assert refused["error"] == "invalid_idempotency_key"
    assert "one Idempotency-Key" in refused["message"]
