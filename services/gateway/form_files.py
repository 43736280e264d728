"""The files of a page form (``request.post()``): which ``file`` fields are files to keep.

aiohttp's form parser makes a part a ``web.FileField`` only when it reads a file name from the
part's Content-Disposition. A part whose name it cannot read (``filename*=UTF-8''%FF.pdf``,
an unknown charset, a ``filename*`` without its two quotes) or whose name is empty arrives as
a plain ``str``/``bytes`` value instead, its name and headers lost. Such a part with content is
a file the person chose that cannot be kept as they named it: the form is refused, before
anything is stored or published, as the API refuses that upload. An empty one is what a
browser sends for "no file chosen" (``filename=""``, no content, RFC 7578 §4.2) and is not a
file at all.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from services.gateway.errors import HttpError
from services.gateway.filenames import DispositionError, form_data_field

#: The form field that holds the files.
FILE_FIELD = "file"


def form_files(form: Any) -> list[web.FileField]:
    """The files a form holds in its ``file`` fields, in order; a field that is empty (no
    file chosen) is left out. Raises HttpError 400 (``file_name_unreadable``) for a ``file``
    field with content whose name cannot be read whole: one aiohttp did not read as a named
    file, or whose Content-Disposition the API's rules refuse."""
    files: list[web.FileField] = []
    for value in form.getall(FILE_FIELD, []):
        if isinstance(value, web.FileField) and value.filename:
            try:
                form_data_field(value.headers.getall(hdrs.CONTENT_DISPOSITION, []))
            except DispositionError as error:
                raise _unreadable(f"{value.filename}: {error}") from error
            files.append(value)
        elif _has_content(value):
            raise _unreadable(
                "it is empty, or written in a way that cannot be decoded, such as filename*= "
                "with bytes that are not UTF-8"
            )
    return files


def _unreadable(why: str) -> HttpError:
    return HttpError(
        400,
        "file_name_unreadable",
        f"A file was sent whose name cannot be read whole ({why}), so nothing was kept and "
        "nothing was done. Rename the file and choose it again.",
    )


def _has_content(value: Any) -> bool:
    if isinstance(value, web.FileField):  # a file with an empty name
        size: int = value.file.seek(0, 2)
        value.file.seek(0)
        return size > 0
    return bool(value)  # str or bytes/bytearray, as aiohttp reads a part without a name
