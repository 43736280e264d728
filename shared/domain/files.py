"""File types from a file's bytes, and the contract's rules (allowed types, at most 5 MB)."""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

import olefile
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

#: The contract may be at most this many bytes (5 MB).
CONTRACT_MAX_BYTES = 5 * 1024 * 1024
#: Contract types the brief allows, by the name we detect them under.
CONTRACT_TYPES = frozenset({"doc", "docx", "xlsx", "ppt", "pptx", "pdf", "png", "zip", "7z"})
#: Most bytes read of an OOXML package's ``[Content_Types].xml`` or ``_rels/.rels`` (each is a
#: few KiB even in large documents); a larger one is not looked into, so the file is a zip.
MAX_PACKAGE_PART_BYTES = 1024 * 1024

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: ISO 32000-1 §7.5.2: the first line is "%PDF-" and the version, e.g. "%PDF-1.7".
_PDF_HEADER = re.compile(rb"%PDF-[0-9]\.[0-9]")
#: PNG (ISO 15948) §5.2-5.6: the signature, then the IHDR chunk, always 13 bytes long.
_PNG_START = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
_SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c"
#: 7z signature header: signature (6), version (2), start-header CRC (4), then the 20 bytes it
#: covers: next-header offset (8), size (8) and CRC (4).
_SEVEN_ZIP_HEADER = struct.Struct("<6sBBIQQI")
_ZIP_HEADERS = (b"PK\x03\x04", b"PK\x05\x06")
#: [MS-CFB] root-level stream that holds an application's document, by its (case-insensitive)
#: name: [MS-DOC] 2.1.1, [MS-XLS] 2.1.2 (Excel 5/95 wrote "Book"), [MS-PPT] 2.1.1.
_OLE2_MAIN_STREAMS = (
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("PowerPoint Document", "ppt"),
)
#: ECMA-376 Part 2 (OPC): the package relationship naming the main part, transitional and strict.
_OFFICE_DOCUMENT_RELATIONSHIPS = frozenset(
    {
        "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument",
        "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument",
    }
)
#: ECMA-376 Part 1: the content type of the main part, which says what the package is. Macro
#: enabled documents and templates have other types and so stay "zip".
_OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
}
_CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_RELATIONSHIPS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
#: What zipfile raises on a damaged, encrypted or oddly compressed member.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
)
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
    """The file type that ``data`` really is, judged from the format's own structure: one of
    ``doc xls ppt docx xlsx pptx zip pdf png 7z``, or None when it is none of them or is too
    damaged to tell. Never raises; reads only ``data`` (no I/O).

    - pdf: starts with "%PDF-" and a version "d.d" (ISO 32000-1 §7.5.2);
    - png: the signature, then a 13-byte IHDR chunk (PNG §5.2, §11.2.2);
    - 7z: the signature header whose CRC is right and whose next header lies inside the data;
    - doc/xls/ppt: an OLE2 compound file ([MS-CFB]) with exactly one kind of main stream at the
      root of its directory (``WordDocument``, ``Workbook``/``Book``, ``PowerPoint Document``);
    - docx/xlsx/pptx: a ZIP whose ``_rels/.rels`` names an existing officeDocument part whose
      content type in ``[Content_Types].xml`` is the main part's (ECMA-376); any other ZIP is
      "zip".
    """
    if _PDF_HEADER.match(data):
        return "pdf"
    if data.startswith(_PNG_START):
        return "png"
    if data.startswith(_SEVEN_ZIP):
        return "7z" if _is_seven_zip(data) else None
    if data.startswith(_OLE2):
        return _ole2_kind(data)
    if data.startswith(_ZIP_HEADERS):
        return _zip_kind(data)
    return None


def _is_seven_zip(data: bytes) -> bool:
    if len(data) < _SEVEN_ZIP_HEADER.size:
        return False
    _, major, _, start_crc, next_offset, next_size, _ = _SEVEN_ZIP_HEADER.unpack_from(data)
    covered = data[12 : _SEVEN_ZIP_HEADER.size]
    return (
        major == 0
        and zlib.crc32(covered) == start_crc
        and _SEVEN_ZIP_HEADER.size + next_offset + next_size <= len(data)
    )


def _ole2_kind(data: bytes) -> str | None:
    try:
        # A BytesIO, never the bytes: olefile takes short bytes for a path and opens it.
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            kinds = {
                kind
                for name, kind in _OLE2_MAIN_STREAMS
                if ole.get_type(name) == olefile.STGTY_STREAM
            }
    except Exception:  # hostile bytes may break the parser in any way: none of them is a type
        return None
    # Two applications' main streams side by side: no application wrote that file.
    return kinds.pop() if len(kinds) == 1 else None


def _zip_kind(data: bytes) -> str | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS:
        return None
    with archive:
        return _ooxml_kind(archive) or "zip"


def _ooxml_kind(archive: zipfile.ZipFile) -> str | None:
    """docx, xlsx or pptx when the ZIP is an Office Open XML package of that kind."""
    members = {info.filename.lower(): info for info in archive.infolist()}
    relationships = _xml_member(archive, members.get("_rels/.rels"))
    content_types = _xml_member(archive, members.get("[content_types].xml"))
    if relationships is None or content_types is None:
        return None
    targets = [
        rel.get("Target", "")
        for rel in relationships.iter(f"{_RELATIONSHIPS_NS}Relationship")
        if rel.get("Type") in _OFFICE_DOCUMENT_RELATIONSHIPS
        and rel.get("TargetMode", "Internal") == "Internal"
    ]
    if len(targets) != 1:
        return None
    # Part names are URIs relative to the package root (ECMA-376 Part 2 §9.1); the ZIP item
    # names are the same without the leading "/".
    part = posixpath.normpath("/" + unquote(targets[0]).lstrip("/")).lower()
    if part.lstrip("/") not in members:
        return None
    return _OOXML_MAIN_PARTS.get(_content_type_of_part(content_types, part) or "")


def _content_type_of_part(content_types: Element, part: str) -> str | None:
    """The part's content type: its Override, else the Default for its extension."""
    for override in content_types.iter(f"{_CONTENT_TYPES_NS}Override"):
        if override.get("PartName", "").lower() == part:
            return override.get("ContentType", "").lower()
    extension = posixpath.splitext(part)[1].lstrip(".")
    for default in content_types.iter(f"{_CONTENT_TYPES_NS}Default"):
        if default.get("Extension", "").lower() == extension:
            return default.get("ContentType", "").lower()
    return None


def _xml_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo | None) -> Element | None:
    """A small member parsed as XML (no DTDs, no entities), or None; never decompresses more
    than MAX_PACKAGE_PART_BYTES + 1 bytes, whatever the member claims its size is."""
    if info is None or info.file_size > MAX_PACKAGE_PART_BYTES:
        return None
    try:
        with archive.open(info) as member:
            text = member.read(MAX_PACKAGE_PART_BYTES + 1)
        if len(text) > MAX_PACKAGE_PART_BYTES:
            return None
        return fromstring(text, forbid_dtd=True)
    except (*_ZIP_ERRORS, ParseError, DefusedXmlException):
        return None


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
