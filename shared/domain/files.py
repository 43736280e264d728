"""File types from a file's bytes, and the contract's rules (allowed types, at most 5 MB)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

#: The contract may be at most this many bytes (5 MB).
CONTRACT_MAX_BYTES = 5 * 1024 * 1024
#: Contract types the brief allows, by the name we detect them under.
CONTRACT_TYPES = frozenset({"doc", "docx", "xlsx", "ppt", "pptx", "pdf", "png", "zip", "7z"})

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PNG = b"\x89PNG\r\n\x1a\n"
_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
_ZIP_HEADERS = (b"PK\x03\x04", b"PK\x05\x06")
#: OLE2 compound files name their main stream in UTF-16LE; the name tells the application.
_OLE2_STREAMS = (
    ("WordDocument".encode("utf-16-le"), "doc"),
    ("PowerPoint Document".encode("utf-16-le"), "ppt"),
    ("Workbook".encode("utf-16-le"), "xls"),
    ("Book".encode("utf-16-le"), "xls"),
)
#: Office Open XML packages are ZIP files whose parts live under one of these folders.
_OOXML_FOLDERS = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_CONTENT_TYPES = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "zip": "application/zip",
    "pdf": "application/pdf",
    "png": "image/png",
    "7z": "application/x-7z-compressed",
}


def sniff_type(data: bytes) -> str | None:
    """The file type that ``data`` really is, or None when it is none we know."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_PNG):
        return "png"
    if data.startswith(_SEVEN_ZIP):
        return "7z"
    if data.startswith(_OLE2):
        return next((kind for name, kind in _OLE2_STREAMS if name in data), None)
    if data.startswith(_ZIP_HEADERS):
        return _zip_kind(data)
    return None


def _zip_kind(data: bytes) -> str | None:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return None
    if "[Content_Types].xml" in names:
        for folder, kind in _OOXML_FOLDERS:
            if any(name.startswith(folder) for name in names):
                return kind
    return "zip"


def content_type_of(kind: str | None) -> str:
    return _CONTENT_TYPES.get(kind or "", "application/octet-stream")


def extension_of(filename: str) -> str:
    _, dot, extension = filename.rpartition(".")
    return extension.lower() if dot else ""


@dataclass(frozen=True)
class FileFacts:
    """What the gateway learned of an uploaded file; the engine decides with it."""

    attachment_id: str
    delivery_id: str
    filename: str
    size: int
    detected_type: str | None


def contract_problem(facts: FileFacts) -> str | None:
    """Why this file cannot be the contract, in words naming the rule; None when it can."""
    if facts.size > CONTRACT_MAX_BYTES:
        return (
            f"the contract must be at most 5 MB ({CONTRACT_MAX_BYTES} bytes); "
            f"this file has {facts.size}"
        )
    allowed = "DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z"
    if facts.detected_type not in CONTRACT_TYPES:
        found = facts.detected_type.upper() if facts.detected_type else "of no known type"
        return f"the contract must be {allowed} judged by its content; this file is {found}"
    extension = extension_of(facts.filename)
    if extension in _CONTENT_TYPES and extension != facts.detected_type:
        return (
            f"the file is named .{extension} but its content is {facts.detected_type.upper()}: "
            "name and content must agree"
        )
    return None
