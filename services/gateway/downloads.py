"""Sending a stored file so that a client never mistakes a failure for the file.

Nothing is promised before the file is known to be readable: its first chunk is read (and a
one-chunk file checked whole) before the ``200`` headers go out, so a missing, damaged or
unreachable file answers a clean JSON error. Once the headers are out, a failure cannot be
answered any more: the connection is closed, the client gets fewer bytes than the
``Content-Length`` it was promised, and no second response is ever written after the first.
Each chunk is held back until the next one is read, and the last one until the whole file
matched its recorded size and sha256, so a damaged file never reaches the client complete.

A ``HEAD`` (aiohttp routes it to the GET handler) gets the same headers, ``Content-Length``
included, and no body (RFC 9110 §9.3.2): a body after a HEAD's head would be read as the next
answer on a keep-alive connection. Only the file's GridFS entry is read (so a missing file
answers 404 as GET would), none of its content.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator

from aiohttp import hdrs, web
from gridfs import AsyncGridFSBucket
from gridfs.asynchronous.grid_file import AsyncGridOut
from gridfs.errors import CorruptGridFile
from pymongo.asynchronous.database import AsyncDatabase

from services.gateway.errors import HttpError, abort, client_gone
from services.runtime.bootstrap import is_transient_db_error

log = logging.getLogger(__name__)


async def _checked_chunks(
    stream: AsyncGridOut, size: int, sha256: str | None
) -> AsyncIterator[bytes]:
    """The file's chunks, each yielded once the next one was read, the last one once the whole
    file matched ``size`` and ``sha256``; :class:`CorruptGridFile` otherwise."""
    digest = hashlib.sha256()
    seen = 0
    held: bytes | None = None
    while chunk := await stream.readchunk():
        digest.update(chunk)
        seen += len(chunk)
        if seen > size:
            raise CorruptGridFile(f"the stored content has more than {size} bytes")
        if held is not None:
            yield held
        held = chunk
    if seen != size:
        raise CorruptGridFile(f"the stored content has {seen} bytes, not {size}")
    if sha256 is not None and digest.hexdigest() != sha256:
        raise CorruptGridFile("the stored content does not match its sha256")
    if held is not None:
        yield held


async def send_file(
    request: web.Request, db: AsyncDatabase, record: dict, headers: dict[str, str]
) -> web.StreamResponse:
    """Stream the attachment ``record`` with ``headers``.

    Raises ``NoFile`` if its content is gone, :class:`HttpError` 500 if it is damaged, and
    the database's error if it is unreachable, all before anything is sent; after that, a
    failure closes the connection (``ResponseAborted``) and a client leaving is passed on.
    For ``HEAD``, the headers only (see the module's docstring).
    """
    attachment_id = record["_id"]
    stream = await AsyncGridFSBucket(db).open_download_stream(attachment_id)
    if request.method == hdrs.METH_HEAD:
        # A web.Response writes no body for HEAD and keeps the Content-Length given: the
        # file's, as GET would send it (RFC 9110 §8.6).
        return web.Response(headers={**headers, "Content-Length": str(record["size"])})
    chunks = _checked_chunks(stream, record["size"], record.get("sha256"))
    async with contextlib.aclosing(chunks):
        try:
            first = await anext(chunks, b"")
        except CorruptGridFile as error:
            log.error("attachment %s is unreadable: %s", attachment_id, error)
            raise HttpError(
                500,
                "attachment_unreadable",
                f"the stored content of attachment {attachment_id} is damaged; it has been logged",
            ) from error
        response = web.StreamResponse(headers={"Content-Length": str(record["size"]), **headers})
        await response.prepare(request)
        sent = 0
        try:
            await response.write(first)
            sent += len(first)
            async for chunk in chunks:
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        except Exception as error:
            if client_gone(request, error):
                raise  # the error middleware logs the client leaving, in one line
            if is_transient_db_error(error):
                log.warning(
                    "database unreachable while sending attachment %s (%d of %d bytes sent); "
                    "connection closed: %s",
                    attachment_id,
                    sent,
                    record["size"],
                    error,
                )
            elif isinstance(error, CorruptGridFile):
                log.error(
                    "attachment %s is unreadable after %d of %d bytes; connection closed: %s",
                    attachment_id,
                    sent,
                    record["size"],
                    error,
                )
            else:
                log.exception(
                    "unexpected error sending attachment %s (%d of %d bytes sent); "
                    "connection closed",
                    attachment_id,
                    sent,
                    record["size"],
                )
            raise abort(request) from error
    return response
