"""Upload and download attachments, stored in MongoDB GridFS beside their metadata."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile

from services.collections import ATTACHMENTS, DELIVERIES
from services.gateway.context import caller, gateway_of, may_see
from services.gateway.errors import HttpError
from services.gateway.views import attachment_view
from shared.domain.files import content_type_of, sniff_type
from shared.domain.roles import Role

routes = web.RouteTableDef()

#: Bytes read from the upload at a time.
CHUNK_BYTES = 256 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str | None) -> str:
    """A file name without paths, control characters or anything a header could trip on."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip(" .")[:120]
    return cleaned or "attachment"


async def _read_capped(part: BodyPartReader, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK_BYTES):
        data += chunk
        if len(data) > limit:
            raise HttpError(413, "file_too_large", f"an attachment may have at most {limit} bytes")
    return bytes(data)


@routes.post("/v1/deliveries/{delivery_id}/attachments")
async def upload(request: web.Request) -> web.Response:
    actor = caller(request, Role.CUSTOMER, Role.ISV)
    gateway = gateway_of(request)
    delivery_id = request.match_info["delivery_id"]
    delivery = await gateway.db[DELIVERIES].find_one(
        {"_id": delivery_id}, {"customer_id": 1, "isv_id": 1}
    )
    if delivery is None or not may_see(actor, delivery):
        raise HttpError(404, "not_found", f"no delivery {delivery_id} for this caller")
    if not request.content_type.startswith("multipart/"):
        raise HttpError(
            415, "multipart_required", "send the file as multipart/form-data field 'file'"
        )
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        part = await reader.next()
    if part is None:
        raise HttpError(400, "file_missing", "the multipart body has no field named 'file'")
    data = await _read_capped(part, gateway.settings.max_attachment_bytes)
    if not data:
        raise HttpError(400, "file_empty", "the uploaded file is empty")
    attachment_id = uuid.uuid4().hex
    detected = sniff_type(data)
    record = {
        "_id": attachment_id,
        "delivery_id": delivery_id,
        "filename": safe_filename(part.filename),
        "size": len(data),
        "detected_type": detected,
        "content_type": content_type_of(detected),
        "sha256": hashlib.sha256(data).hexdigest(),
        "uploaded_by": actor.model_dump(),
        "uploaded_at": datetime.now(UTC),
    }
    bucket = AsyncGridFSBucket(gateway.db)
    await bucket.upload_from_stream_with_id(attachment_id, record["filename"], data)
    await gateway.db[ATTACHMENTS].insert_one(record)
    return web.json_response(attachment_view(record), status=201)


@routes.get("/v1/attachments/{attachment_id}")
async def download(request: web.Request) -> web.StreamResponse:
    actor = caller(request)
    gateway = gateway_of(request)
    attachment_id = request.match_info["attachment_id"]
    record = await gateway.db[ATTACHMENTS].find_one({"_id": attachment_id})
    delivery = record and await gateway.db[DELIVERIES].find_one(
        {"_id": record["delivery_id"]}, {"customer_id": 1, "isv_id": 1}
    )
    if record is None or delivery is None or not may_see(actor, delivery):
        raise HttpError(404, "not_found", f"no attachment {attachment_id} for this caller")
    try:
        stream = await AsyncGridFSBucket(gateway.db).open_download_stream(attachment_id)
    except NoFile as error:
        raise HttpError(404, "not_found", f"attachment {attachment_id} has no content") from error
    response = web.StreamResponse(
        headers={
            "Content-Type": record["content_type"],
            "Content-Length": str(record["size"]),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record['filename'])}",
            "X-Content-Type-Options": "nosniff",
        }
    )
    await response.prepare(request)
    while chunk := await stream.readchunk():
        await response.write(chunk)
    await response.write_eof()
    return response
