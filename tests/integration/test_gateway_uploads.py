"""Uploads: multipart into GridFS with sha256, size and a type judged from the bytes; a hard
size cap enforced before and while reading; safe file names in and out."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from email.message import Message
from urllib.parse import unquote

import pytest

from tests.integration import rawhttp
from tests.integration.client import Api
from tests.integration.gateway_support import PDF, upload
from tests.integration.system import System
from tests.integration.waiting import PATIENCE

#: DC_MAX_ATTACHMENT_BYTES of the session's system (the default, 20 MiB).
CAP = 20 * 1024 * 1024


async def _opened(api: Api, parties) -> str:
    opened = await api.open_delivery(parties["marketplace"], parties["customer"], parties["isv"])
    return opened["delivery_id"]


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


async def test_an_upload_records_sha256_size_and_the_type_of_its_bytes(api: Api, parties, db):
    delivery_id = await _opened(api, parties)
    for content, named, expected in (
        (PDF, "notes.txt", "application/pdf"),
        (_docx(), "contract.docx", "application/vnd.openxmlformats-officedocument"),
        (b"MZ\x90\x00 an executable", "invoice.pdf", "application/octet-stream"),
    ):
        status, answer = await upload(api, delivery_id, parties["customer"], content, named)
        assert status == 201, answer
        assert answer["size"] == len(content)
        assert answer["sha256"] == hashlib.sha256(content).hexdigest()
        assert answer["content_type"].startswith(expected), (named, answer)
        stored = db.attachments.find_one({"_id": answer["attachment_id"]})
        assert (stored["size"], stored["sha256"]) == (answer["size"], answer["sha256"])
        assert db.fs.files.find_one({"_id": answer["attachment_id"]})["length"] == len(content)
        status, body = await api.request(
            "GET", f"/v1/attachments/{answer['attachment_id']}", parties["isv"]
        )
        assert status == 200 and body == content


async def test_an_upload_whose_content_length_exceeds_the_cap_is_refused_unread(
    api: Api, system: System, parties
):
    delivery_id = await _opened(api, parties)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        # Headers only: the gateway must answer without waiting for a byte of the body.
        writer.write(
            rawhttp.request_head(
                "POST",
                f"/v1/deliveries/{delivery_id}/attachments",
                {
                    **parties["customer"].headers,
                    "Content-Type": f"multipart/form-data; boundary={rawhttp.BOUNDARY}",
                    "Content-Length": str(CAP + 1024 * 1024),
                },
            )
        )
        await writer.drain()
        answer = await rawhttp.read_answer(reader, timeout=PATIENCE)
    finally:
        writer.close()
    assert answer.status == 413
    assert b"file_too_large" in answer.body


async def test_expect_100_continue_is_refused_when_the_body_would_exceed_the_cap(
    api: Api, system: System, parties
):
    delivery_id = await _opened(api, parties)
    reader, writer = await rawhttp.connect(system.base_url)
    try:
        writer.write(
            rawhttp.request_head(
                "POST",
                f"/v1/deliveries/{delivery_id}/attachments",
                {
                    **parties["customer"].headers,
                    "Content-Type": f"multipart/form-data; boundary={rawhttp.BOUNDARY}",
                    "Content-Length": str(CAP * 2),
                    "Expect": "100-continue",
                },
            )
        )
        await writer.drain()
        # The first answer is the refusal, not "100 Continue".
        first = await asyncio.wait_for(reader.readline(), PATIENCE)
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 413"), first


async def test_a_streamed_upload_is_cut_off_with_413_as_soon_as_it_passes_the_cap(
    api: Api, system: System, parties, db
):
    delivery_id = await _opened(api, parties)
    reader, writer = await rawhttp.connect(system.base_url)
    sent = 0
    try:
        writer.write(
            rawhttp.request_head(
                "POST",
                f"/v1/deliveries/{delivery_id}/attachments",
                {
                    **parties["customer"].headers,
                    "Content-Type": f"multipart/form-data; boundary={rawhttp.BOUNDARY}",
                    "Transfer-Encoding": "chunked",
                },
            )
        )

        def chunk(data: bytes) -> bytes:
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"

        writer.write(
            chunk(
                f"--{rawhttp.BOUNDARY}\r\n"
                'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
            )
        )
        block = b"\0" * (1024 * 1024)
        # Just past the cap, then stop: no final chunk, no closing boundary. The answer must
        # come while the body is still unfinished.
        while sent <= CAP:
            writer.write(chunk(block))
            sent += len(block)
            await writer.drain()
        answer = await rawhttp.read_answer(reader, timeout=PATIENCE)
    finally:
        writer.close()
    assert answer.status == 413 and b"file_too_large" in answer.body
    assert sent < CAP + 2 * len(block)
    assert db.attachments.count_documents({"delivery_id": delivery_id}) == 0


async def test_a_file_just_under_the_cap_is_accepted_and_only_then_stored(
    api: Api, system: System, parties
):
    delivery_id = await _opened(api, parties)
    content = PDF + b"\0" * (1024 * 1024)
    status, answer = await upload(api, delivery_id, parties["isv"], content, "big.pdf")
    assert status == 201 and answer["size"] == len(content)


HOSTILE = "..%2F..%2Fetc%2Fevil%22quote%27%0D%0AX-Injected%3A%201%20%D0%94%D0%BE%D0%B3%C3%B6.pdf"


@pytest.mark.parametrize(
    "disposition",
    [
        # RFC 5987 form, as a careful client writes it: decoded, it holds ../, a quote, CR/LF.
        f"form-data; name=\"file\"; filename*=UTF-8''{HOSTILE}",
        # As browsers write it: quotes and CR/LF percent-encoded, the rest raw UTF-8.
        'form-data; name="file"; filename="../../etc/evil%22quote\'%0D%0AX-Injected: 1 Догö.pdf"',
        # A backslash-escaped quote and a Windows path.
        'form-data; name="file"; '
        'filename="C:\\\\..\\\\etc\\\\evil\\"quote\' X-Injected: 1 Догö.pdf"',
    ],
)
async def test_a_hostile_filename_is_sanitised_and_downloaded_safely(
    api: Api, system: System, parties, disposition: str
):
    delivery_id = await _opened(api, parties)
    headers, body = rawhttp.multipart_file(PDF, disposition)
    answer = await rawhttp.send(
        system.base_url,
        "POST",
        f"/v1/deliveries/{delivery_id}/attachments",
        {**parties["isv"].headers, **headers},
        body,
    )
    assert answer.status == 201, answer.body
    stored = json.loads(answer.body)["filename"]
    for bad in ("/", "\\", "..", '"', "'", "\r", "\n", ":"):
        assert bad not in stored, (bad, stored)
    assert stored.endswith(".pdf") and "Догö" in stored and "evil" in stored

    download = await rawhttp.send(
        system.base_url,
        "GET",
        f"/v1/attachments/{json.loads(answer.body)['attachment_id']}",
        parties["customer"].headers,
    )
    assert download.status == 200 and download.body == PDF
    value = download.headers["content-disposition"]
    assert value.isascii() and "\r" not in value and "\n" not in value
    parsed = Message()
    parsed["Content-Disposition"] = value
    assert parsed.get_content_disposition() == "attachment"
    # Old clients read the ASCII name, new ones the exact one; both are the stored name.
    assert unquote(value.split("filename*=UTF-8''", 1)[1]) == stored
    fallback = parsed.get_param("filename", header="content-disposition")
    assert fallback.isascii() and fallback.endswith(".pdf")
    assert all(ch.isalnum() or ch in "._-()[]+ " for ch in fallback), fallback
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"] == "application/pdf"


async def test_an_upload_that_is_not_multipart_answers_415(api: Api, parties):
    delivery_id = await _opened(api, parties)
    status, answer = await api.request(
        "POST", f"/v1/deliveries/{delivery_id}/attachments", parties["isv"], data=PDF
    )
    assert status == 415 and answer["error"] == "multipart_required"


async def test_a_multipart_body_without_a_file_or_with_an_empty_one_answers_400(
    api: Api, system: System, parties
):
    delivery_id = await _opened(api, parties)
    path = f"/v1/deliveries/{delivery_id}/attachments"
    for disposition, content, code in (
        ('form-data; name="other"; filename="x.pdf"', PDF, b"file_missing"),
        ('form-data; name="file"; filename="x.pdf"', b"", b"file_empty"),
    ):
        headers, body = rawhttp.multipart_file(content, disposition)
        answer = await rawhttp.send(
            system.base_url, "POST", path, {**parties["isv"].headers, **headers}, body
        )
        assert answer.status == 400 and code in answer.body, answer
    answer = await rawhttp.send(
        system.base_url,
        "POST",
        path,
        {**parties["isv"].headers, "Content-Type": "multipart/form-data"},
        b"--x\r\nnonsense",
    )
    assert answer.status == 400, answer
