"""Contract files: the type from the bytes (real little sample files), the allowed list, 5 MB."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from shared.domain.files import (
    CONTRACT_MAX_BYTES,
    CONTRACT_TYPES,
    FileFacts,
    content_type_of,
    contract_problem,
    extension_of,
    sniff_type,
)

ALLOWED_WORDS = "DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x7f")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


_CONTENT_TYPES_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="xml" ContentType="application/xml"/></Types>'
)
_RELS = '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>'


def ooxml(folder: str, part: str) -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES_XML,
            "_rels/.rels": _RELS,
            "docProps/core.xml": "<coreProperties/>",
            f"{folder}{part}": "<root/>",
        }
    )


def docx() -> bytes:
    return ooxml("word/", "document.xml")


def xlsx() -> bytes:
    return ooxml("xl/", "workbook.xml")


def pptx() -> bytes:
    return ooxml("ppt/", "presentation.xml")


def plain_zip() -> bytes:
    return _zip({"site/index.html": "<html></html>", "README.txt": "hello"})


def ole2(stream: str) -> bytes:
    """A compound-file header, then a directory entry naming the main stream in UTF-16LE."""
    header = OLE2_MAGIC + b"\x00" * 16 + b"\x3e\x00\x03\x00\xfe\xff\x09\x00" + b"\x00" * (512 - 32)
    entry = stream.encode("utf-16-le").ljust(64, b"\x00") + struct.pack("<H", 2 * (len(stream) + 1))
    return header + entry.ljust(128, b"\x00")


def seven_zip() -> bytes:
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24


SAMPLES = {
    "pdf": pdf,
    "png": png,
    "docx": docx,
    "xlsx": xlsx,
    "pptx": pptx,
    "zip": plain_zip,
    "doc": lambda: ole2("WordDocument"),
    "ppt": lambda: ole2("PowerPoint Document"),
    "xls": lambda: ole2("Workbook"),
    "7z": seven_zip,
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_sniff_type_reads_the_bytes(kind: str) -> None:
    assert sniff_type(SAMPLES[kind]()) == kind


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ole2("Book"), "xls"),  # Excel 5/95 workbooks name their stream "Book"
        (ole2("SummaryInformation"), None),  # a compound file, but none we know
        (b"PK\x03\x04 this is not really a zip", None),
        (_zip({}), "zip"),  # an empty archive is only its end record: PK\x05\x06
        (_zip({"[Content_Types].xml": _CONTENT_TYPES_XML, "data.bin": "x"}), "zip"),
        (_zip({"word/document.xml": "<w/>"}), "zip"),  # OOXML folders without content types
        (b"Hello, this is a plain text contract.\n", None),
        (b"", None),
        (b"%PDF", None),  # the header is "%PDF-"
        (b"\x89PNG", None),
        (b"GIF89a\x01\x00\x01\x00", None),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, bytes) else str(v),
)
def test_sniff_type_edge_cases(data: bytes, expected: str | None) -> None:
    assert sniff_type(data) == expected


def test_the_allowed_list_is_exactly_the_briefs() -> None:
    allowed = {"doc", "docx", "xlsx", "ppt", "pptx", "pdf", "png", "zip", "7z"}
    assert allowed == CONTRACT_TYPES


def _facts(data: bytes, filename: str, size: int | None = None) -> FileFacts:
    return FileFacts(
        "a" * 32, "d" * 32, filename, len(data) if size is None else size, sniff_type(data)
    )


@pytest.mark.parametrize("kind", sorted(CONTRACT_TYPES))
def test_every_allowed_type_is_a_valid_contract(kind: str) -> None:
    assert contract_problem(_facts(SAMPLES[kind](), f"contract.{kind}")) is None
    assert contract_problem(_facts(SAMPLES[kind](), f"CONTRACT.{kind.upper()}")) is None
    assert contract_problem(_facts(SAMPLES[kind](), "contract")) is None


@pytest.mark.parametrize(
    ("data", "filename", "found"),
    [
        (ole2("Workbook"), "contract.xls", "XLS"),
        (b"Plain text contract\n", "contract.txt", "of no known type"),
        (b"Plain text pretending\n", "contract.pdf", "of no known type"),
        (b"GIF89a\x01\x00\x01\x00", "contract.png", "of no known type"),
    ],
)
def test_other_types_are_refused_naming_the_rule(data: bytes, filename: str, found: str) -> None:
    problem = contract_problem(_facts(data, filename))
    assert problem is not None
    assert ALLOWED_WORDS in problem and "content" in problem
    assert found in problem


def test_five_megabytes_at_most() -> None:
    assert CONTRACT_MAX_BYTES == 5 * 1024 * 1024
    data = pdf()
    assert contract_problem(_facts(data, "contract.pdf", size=5 * 1024 * 1024)) is None
    problem = contract_problem(_facts(data, "contract.pdf", size=5 * 1024 * 1024 + 1))
    assert problem is not None and "5 MB" in problem and str(5 * 1024 * 1024 + 1) in problem
    # Real bytes, padded past the limit: a PDF may carry trailing bytes.
    big = pdf() + b"\n" * (CONTRACT_MAX_BYTES + 1 - len(pdf()))
    assert sniff_type(big) == "pdf"
    assert "5 MB" in (contract_problem(_facts(big, "contract.pdf")) or "")


@pytest.mark.parametrize(
    ("kind", "filename"),
    [
        ("pdf", "contract.docx"),
        ("zip", "contract.docx"),
        ("docx", "contract.pdf"),
        ("png", "scan.7z"),
    ],
)
def test_name_and_content_must_agree(kind: str, filename: str) -> None:
    problem = contract_problem(_facts(SAMPLES[kind](), filename))
    assert problem is not None
    assert "name and content must agree" in problem
    assert f".{extension_of(filename)}" in problem and kind.upper() in problem


def test_unknown_extensions_are_judged_by_content_alone() -> None:
    assert contract_problem(_facts(pdf(), "contract.final")) is None


def test_content_types_and_extensions() -> None:
    assert content_type_of("pdf") == "application/pdf"
    assert content_type_of("docx").endswith("wordprocessingml.document")
    assert content_type_of("7z") == "application/x-7z-compressed"
    assert content_type_of(None) == "application/octet-stream"
    assert content_type_of("exe") == "application/octet-stream"
    assert extension_of("a.b.DOCX") == "docx"
    assert extension_of("noext") == ""
    assert extension_of(".hidden") == "hidden"
