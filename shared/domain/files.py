"""File types from a file's bytes, and the contract's rules (allowed types, at most 5 MB)."""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from contextlib import suppress
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
#: The two in words, as the refusal below says them (the API's English; the page's upload
#: form lists the names in its reader's language, ``shared.wording.contract_hint``).
CONTRACT_TYPE_NAMES = ("DOC", "DOCX", "XLSX", "PPT", "PPTX", "PDF", "PNG", "ZIP", "7z")
CONTRACT_TYPE_WORDS = f"{', '.join(CONTRACT_TYPE_NAMES[:-1])} or {CONTRACT_TYPE_NAMES[-1]}"
CONTRACT_MAX_WORDS = f"{CONTRACT_MAX_BYTES // (1024 * 1024)} MB"
#: Most bytes read of an OOXML package's ``[Content_Types].xml`` or ``_rels/.rels`` (each is a
#: few KiB even in large documents); a larger one is not looked into, so the file is a zip.
MAX_PACKAGE_PART_BYTES = 1024 * 1024
#: Most members of a ZIP whose directory is read. Office packages have tens to a few thousand
#: parts; reading a hostile directory of 200,000 empty members costs over a second of CPU, so
#: a ZIP that says it has more (its end record, APPNOTE 4.3.16) is "zip" without looking in.
MAX_ZIP_MEMBERS = 10_000
#: Most entries of an OLE2 directory ([MS-CFB] 2.6) read. Word, Excel and PowerPoint files
#: hold tens to a few hundred; a larger directory is not looked into, so the file is None
#: (unlike a ZIP, a compound file of no known application has no type of its own here).
MAX_OLE2_DIRECTORY_ENTRIES = 10_000

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

    Bounded work: a ZIP of more than MAX_ZIP_MEMBERS members is "zip" unread, an OLE2 file of
    more than MAX_OLE2_DIRECTORY_ENTRIES directory entries is None, a package part larger than
    MAX_PACKAGE_PART_BYTES is not decompressed.
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


class _DirectoryTooLarge(Exception):
    pass


class _BoundedOleFile(olefile.OleFileIO):  # type: ignore[misc]
    """olefile, refusing a directory of more than MAX_OLE2_DIRECTORY_ENTRIES entries before it
    builds the tree of them (olefile sizes ``direntries`` from the directory stream first)."""

    def _load_direntry(self, sid: int) -> olefile.OleDirectoryEntry:
        if len(self.direntries) > MAX_OLE2_DIRECTORY_ENTRIES:
            raise _DirectoryTooLarge
        return super()._load_direntry(sid)


def _ole2_kind(data: bytes) -> str | None:
    try:
        # A BytesIO, never the bytes: olefile takes short bytes for a path and opens it.
        with _BoundedOleFile(io.BytesIO(data)) as ole:
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
    if _zip_member_count(data) > MAX_ZIP_MEMBERS:
        return "zip"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # hostile bytes may break zipfile in any way: none of them is a type
        return None
    with archive:
        try:
            return _ooxml_kind(archive) or "zip"
        except Exception:  # a damaged member (any compression) makes it no Office package
            return "zip"


def _zip_member_count(data: bytes) -> int:
    """The member count the ZIP's end of central directory record states (zip64 too), read
    without reading the directory itself; 0 when there is no readable record."""
    with suppress(Exception):
        # zipfile's own reader of the end record, as ZipFile uses it.
        end = zipfile._EndRecData(io.BytesIO(data))  # type: ignore[attr-defined]
        if end:
            return int(end[zipfile._ECD_ENTRIES_TOTAL])  # type: ignore[attr-defined]
    return 0


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
    than MAX_PACKAGE_PART_BYTES + 1 bytes, whatever the member claims its size is. A member
    that cannot be read is None, whatever zipfile or its decompressor raised (zlib.error,
    lzma.LZMAError, OSError from bz2, EOFError, NotImplementedError for an unknown method,
    RuntimeError when encrypted, BadZipFile, struct.error, ValueError …)."""
    if info is None or info.file_size > MAX_PACKAGE_PART_BYTES:
        return None
    try:
        with archive.open(info) as member:
            text = member.read(MAX_PACKAGE_PART_BYTES + 1)
        if len(text) > MAX_PACKAGE_PART_BYTES:
            return None
        return fromstring(text, forbid_dtd=True)
    except (ParseError, DefusedXmlException):
        return None
    except Exception:  # hostile compressed data may break the decompressor in any way
        return None


def content_type_of(kind: str | None) -> str:
    """The media type (RFC 6838; IANA's registry, 7z's the common ``x-`` one) of a type
    :func:`sniff_type` returns; ``application/octet-stream`` for None or an unknown one."""
    return _CONTENT_TYPES.get(kind or "", "application/octet-stream")


def extension_of(filename: str) -> str:
    """The lower-cased text after the last dot (``"Plan.DOCX"`` → ``"docx"``); "" if none."""
    _, dot, extension = filename.rpartition(".")
    return extension.lower() if dot else ""


@dataclass(frozen=True)
class FileFacts:
    """What the gateway learned of an uploaded file; the engine decides with it.

    ``size`` is in bytes; ``detected_type`` is :func:`sniff_type`'s answer (None: unknown);
    ``delivery_id`` is the delivery it was uploaded to.
    """

    attachment_id: str
    delivery_id: str
    filename: str
    size: int
    detected_type: str | None


def contract_problem(facts: FileFacts) -> str | None:
    """Why this file cannot be the contract, in words naming the rule; None when it can.

    The brief's rule: DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z, checked from the bytes,
    at most 5 MB (:data:`CONTRACT_MAX_BYTES`, 5 MiB); a name whose extension is a known type
    must agree with the content.
    """
    if facts.size > CONTRACT_MAX_BYTES:
        return (
            f"the contract must be at most {CONTRACT_MAX_WORDS} ({CONTRACT_MAX_BYTES} bytes); "
            f"this file has {facts.size}"
        )
    if facts.detected_type not in CONTRACT_TYPES:
        found = facts.detected_type.upper() if facts.detected_type else "of no known type"
        return (
            f"the contract must be {CONTRACT_TYPE_WORDS} judged by its content; "
            f"this file is {found}"
        )
    extension = extension_of(facts.filename)
    if extension in _CONTENT_TYPES and extension != facts.detected_type:
        return (
            f"the file is named .{extension} but its content is {facts.detected_type.upper()}: "
            "name and content must agree"
        )
    return None
