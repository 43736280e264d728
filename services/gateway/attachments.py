"""Upload and download attachments, stored in MongoDB GridFS beside their metadata."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from datetime import UTC, datetime

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.context import caller, gateway_of, visible_delivery
from services.gateway.contracts import (
    ACCEPT_ENCODING,
    BODY_FRAMING,
    CALLER_ERRORS,
    Body,
    Reply,
    documented,
    error,
    framing_errors,
    link,
    parameter,
    text,
)
from services.gateway.downloads import send_file
from services.gateway.errors import HttpError
from services.gateway.filenames import (
    DispositionError,
    content_disposition,
    form_data_field,
    safe_filename,
)
from services.gateway.models import Attachment, json_answer
from services.gateway.requests import expect_continue
from services.runtime.collections import ATTACHMENTS
from shared.domain.files import content_type_of, sniff_type
from shared.domain.roles import Actor, Role

routes = web.RouteTableDef()
#: The 200 of a download (:func:`stream_file`), the API's and the page's.
FILE_ANSWER = text(
    "*/*",
    "the file, typed as judged from its bytes (application/octet-stream when unknown), "
    "with a safe Content-Disposition",
    {"type": "string", "format": "binary"},
)
#: The 500 of a download whose stored content is damaged (``downloads.send_file``).
UNREADABLE = "attachment_unreadable: the file's stored content is damaged; it has been logged"

#: Bytes read from the upload at a time.
CHUNK_BYTES = 256 * 1024
#: Room for the multipart framing (boundaries, part headers) around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: Parts looked at before giving up on finding the field ``file``.
MAX_PARTS = 16
#: What aiohttp raises on a multipart body it cannot parse.
MALFORMED_MULTIPART = (ValueError, AssertionError, KeyError, HttpProcessingError)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "file_too_large", f"an attachment may have at most {limit} bytes")


def _declared_too_large(request: web.Request, limit: int) -> bool:
    length = request.content_length
    return length is not None and length > limit + MULTIPART_OVERHEAD_BYTES


async def _refuse_large_before_continue(request: web.Request) -> web.StreamResponse | None:
    """With ``Expect: 100-continue``, refuse a too large body before the client sends it
    (``requests.expect_continue``: any other expectation is a JSON 417)."""
    limit = gateway_of(request).settings.max_attachment_bytes
    expect = expect_continue(
        lambda _: limit + MULTIPART_OVERHEAD_BYTES, lambda _: _too_large(limit)
    )
    return await expect(request)


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    """The part's bytes up to its delimiter; 413 as soon as more than ``limit`` arrived,
    without reading on; 400 when the body ends before the part's delimiter."""
    data = bytearray()
    while not part.at_eof():
        chunk = await part.read_chunk(CHUNK_BYTES)
        # aiohttp answers b"" without being at the part's end only when the body ended first:
        # what was read is a file cut short, or one whose delimiter never matched (LF alone).
        if not chunk and not part.at_eof():
            raise _malformed(
                "the body ended inside the part 'file', before a delimiter "
                "(CRLF, '--' and the boundary) closed it"
            )
        data += chunk
        if len(data) > limit:
            raise _too_large(limit)
    return bytes(data)


#: What no form field's name may hold: C0 controls, DEL and C1 controls (the pattern the
#: document's ``propertyNames`` states for the upload's fields).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: A quoted ``name`` parameter of a Content-Disposition with a backslash in it.
BACKSLASH_IN_NAME = re.compile(r'(?i)(?:^|;)\s*name\s*=\s*"[^"\\]*\\')


def _malformed(why: str) -> HttpError:
    return HttpError(400, "malformed_multipart", f"the multipart body is malformed: {why}")


async def _read_upload(request: web.Request, limit: int) -> tuple[bytes, str | None]:
    """The bytes of the part named ``file`` and the file name its client gave (uncleaned, or
    None), once the whole body was read.

    A multipart body ends with its close-delimiter (RFC 2046 §5.1.1), so the file is kept
    only when its part ended at a delimiter and the body, after at most ``MAX_PARTS`` parts,
    at the close-delimiter. A body cut short (a stream that stops mid part, delimiters with
    LF alone, no final ``--``) may hold what looks like a whole file but is not known to be
    one: it is refused whole, as the page forms' parser refuses it.
    """
    if not request.content_type.startswith("multipart/"):
        raise HttpError(
            415, "multipart_required", "send the file as multipart/form-data field 'file'"
        )
    found: tuple[bytes, str | None] | None = None
    try:
        reader = await request.multipart()
        for _ in range(MAX_PARTS + 1):
            # None only after the close-delimiter; a part left unread is read to its end here.
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            # Our reading of Content-Disposition, not aiohttp's part.name / part.filename:
            # see services/gateway/filenames.py.
            dispositions = part.headers.getall(hdrs.CONTENT_DISPOSITION, [])
            if any(BACKSLASH_IN_NAME.search(value) for value in dispositions):
                # RFC 7578 quotes a name, HTML forms write a backslash as it is: which one
                # a client meant is unknowable, so a name holds none (propertyNames says so).
                raise _malformed("a part's name holds a backslash")
            field, filename = form_data_field(dispositions)
            if field is not None and CONTROL_CHARACTER.search(field):
                # Every part's, whatever its place: the document's propertyNames says so.
                raise _malformed("a part's name holds a control character")
            if field == "file" and found is None:
                found = (await _read_capped(part, limit), filename)
    except DispositionError as error:
        raise HttpError(
            400,
            "malformed_multipart",
            f"a part's Content-Disposition cannot be read: {error}; "
            "send filename=\"…\" or filename*=UTF-8''…",
        ) from error
    except MALFORMED_MULTIPART as error:
        # aiohttp's own words ("Invalid boundary b''", "Reading after EOF") do not say that
        # the body simply stopped.
        if request.content.at_eof():
            raise _malformed(_NO_CLOSE_DELIMITER) from error
        raise _malformed(str(error)) from error
    if not reader.at_eof():
        raise _malformed(f"it has more than {MAX_PARTS} parts")
    if found is None:
        raise HttpError(400, "file_missing", "the multipart body has no field named 'file'")
    return found


#: Why a body that stopped between parts, or without its final ``--``, is refused.
_NO_CLOSE_DELIMITER = (
    "the body ended before its close-delimiter ('--', the boundary and '--', RFC 2046 §5.1.1)"
)


@routes.post(
    "/v1/deliveries/{delivery_id}/attachments", expect_handler=_refuse_large_before_continue
)
@documented(
    "Upload an attachment (its customer and ISV)",
    parameters=(parameter("delivery_id", "path"),),
    body=Body(
        content={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "minLength": 1,
                        "description": "the file's bytes, at least one and at most "
                        "DC_MAX_ATTACHMENT_BYTES (20 MiB unless configured; more is 413)",
                    }
                },
                "required": ["file"],
                # Other fields are ignored, but a field name with a control character, a
                # quote or a backslash makes the body malformed (400).
                "propertyNames": {"pattern": f'^[^{CONTROL_CHARACTER.pattern[1:-1]}"\\\\]*$'},
            }
        }
    ),
    responses={
        201: Reply(
            "stored; its type judged from its bytes",
            Attachment,
            links={
                "GetAttachment": link(
                    "GET",
                    "/v1/attachments/{attachment_id}",
                    "the file",
                    attachment_id="$response.body#/attachment_id",
                )
            },
        ),
        400: error("malformed multipart, no field 'file' or an empty file"),
        404: error("no such delivery for the caller"),
        413: error("the file is larger than DC_MAX_ATTACHMENT_BYTES"),
        **framing_errors(),
        415: error(
            f"multipart_required: the body is not multipart/form-data; or {BODY_FRAMING[415]}",
            headers=ACCEPT_ENCODING,
        ),
        **CALLER_ERRORS,
    },
)
async def upload(request: web.Request) -> web.Response:
    """POST /v1/deliveries/{delivery_id}/attachments, the delivery's customer or ISV (brief):
    stores the multipart field ``file`` (RFC 7578) and answers 201 :class:`Attachment`.

    A body declared larger than ``DC_MAX_ATTACHMENT_BYTES`` is refused 413 before a byte is
    read; a refusal part way through answers at once and closes the connection. 404 for a
    delivery that is not the caller's, 400 ``file_empty`` for an empty file.
    """
    actor = caller(request, Role.CUSTOMER, Role.ISV)
    gateway = gateway_of(request)
    limit = gateway.settings.max_attachment_bytes
    if _declared_too_large(request, limit):
        # Refused before reading a byte of the body; the connection is closed after the answer.
        response = _too_large(limit).response()
        response.force_close()
        return response
    delivery_id = request.match_info["delivery_id"]
    if await visible_delivery(gateway.db, actor, delivery_id) is None:
        raise HttpError(404, "not_found", f"no delivery {delivery_id} for this caller")
    try:
        data, filename = await _read_upload(request, limit)
    except HttpError as error:
        response = error.response()
        # Do not drain the rest of an upload refused part way (too large, malformed): answer
        # at once and hang up.
        response.force_close()
        return response
    if not data:
        raise HttpError(400, "file_empty", "the uploaded file is empty")
    record = await store_file(gateway.db, delivery_id, filename, data, actor)
    return json_answer(Attachment.of(record), status=201)


async def store_file(
    db: AsyncDatabase, delivery_id: str, filename: str | None, data: bytes, actor: Actor
) -> dict:
    """Keep an uploaded file: its bytes in GridFS, its facts (size, sniffed type, sha256)
    beside them; returns the facts. ``filename`` is the client's name, decoded but not yet
    cleaned (see ``filenames.form_data_field``): it is stored as ``safe_filename`` makes it."""
    attachment_id = uuid.uuid4().hex
    # CPU-bound (a 20 MB hash; a hostile package's structure, bounded by sniff_type): in a
    # thread, so the event loop keeps answering every other request meanwhile.
    detected, sha256 = await asyncio.to_thread(_facts_of, data)
    record = {
        "_id": attachment_id,
        "delivery_id": delivery_id,
        "filename": safe_filename(filename),
        "size": len(data),
        "detected_type": detected,
        "content_type": content_type_of(detected),
        "sha256": sha256,
        "uploaded_by": actor.model_dump(),
        "uploaded_at": datetime.now(UTC),
    }
    await AsyncGridFSBucket(db).upload_from_stream_with_id(attachment_id, record["filename"], data)
    await db[ATTACHMENTS].insert_one(record)
    return record


async def files_by_id(db: AsyncDatabase, ids: list[str]) -> dict[str, dict]:
    """The stored records of the files ``ids`` (``ATTACHMENTS``) by id; a file without a
    record is left out. Asks only when there is something to ask: FerretDB scans the
    collection for an empty ``$in``."""
    if not ids:
        return {}
    cursor = db[ATTACHMENTS].find({"_id": {"$in": ids}})
    return {record["_id"]: record async for record in cursor}


def _facts_of(data: bytes) -> tuple[str | None, str]:
    """(the sniffed type, the sha256 in hex) of an uploaded file's bytes."""
    return sniff_type(data), hashlib.sha256(data).hexdigest()


@routes.get("/v1/attachments/{attachment_id}")
@documented(
    "Download an attachment (its delivery's customer and ISV, admin)",
    parameters=(parameter("attachment_id", "path"),),
    responses={
        200: FILE_ANSWER,
        404: error("no such attachment for the caller"),
        500: error(UNREADABLE),
        **CALLER_ERRORS,
    },
)
async def download(request: web.Request) -> web.StreamResponse:
    """GET /v1/attachments/{attachment_id}, its delivery's customer or ISV, admin: the file's
    bytes, typed from its bytes, with an RFC 6266 ``Content-Disposition`` (``stream_file``);
    404 for a file that is not the caller's or whose content is missing."""
    actor = caller(request, Role.CUSTOMER, Role.ISV, Role.ADMIN)
    gateway = gateway_of(request)
    attachment_id = request.match_info["attachment_id"]
    record = await gateway.db[ATTACHMENTS].find_one({"_id": attachment_id})
    delivery = record and await visible_delivery(gateway.db, actor, record["delivery_id"])
    if record is None or delivery is None:
        raise HttpError(404, "not_found", f"no attachment {attachment_id} for this caller")
    try:
        return await stream_file(request, gateway.db, record)
    except NoFile as error:
        raise HttpError(404, "not_found", f"attachment {attachment_id} has no content") from error


async def stream_file(
    request: web.Request, db: AsyncDatabase, record: dict, **headers: str
) -> web.StreamResponse:
    """Stream a stored file with safe headers; raises NoFile if its content is missing (see
    ``downloads.send_file`` for what happens when it cannot be read)."""
    return await send_file(
        request,
        db,
        record,
        {
            "Content-Type": record["content_type"],
            "Content-Disposition": content_disposition(record["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            **headers,
        },
    )
