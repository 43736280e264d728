"""Contract files: the type from the bytes (real little sample files), the allowed list, 5 MB."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import files
from shared.domain.files import (
    CONTRACT_MAX_BYTES,
    CONTRACT_TYPES,
    MAX_ZIP_MEMBERS,
    FileFacts,
    content_type_of,
    contract_problem,
    extension_of,
    sniff_type,
)
from tests.unit.ole2_builder import compound_file
from tests.unit.ooxml_builder import (
    MAIN_PARTS,
    RELATIONSHIP,
    content_types,
    docx,
    package,
    pptx,
    relationships,
    xlsx,
    zip_of,
)

ALLOWED_WORDS = "DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z"


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


def plain_zip() -> bytes:
    return zip_of({"site/index.html": "<html></html>", "README.txt": "hello"})


def ole2(stream: str, content: bytes = b"") -> bytes:
    """A real compound file with one root-level stream."""
    return compound_file({stream: content})


def seven_zip(next_header: bytes = b"\x01\x04\x06\x00\x01\x09\x00\x00") -> bytes:
    """A 7z signature header (CRC over the next-header fields) and the next header after it."""
    fields = struct.pack("<QQI", 0, len(next_header), zlib.crc32(next_header))
    return (
        b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(fields)) + fields + next_header
    )


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
        (ole2("\x05SummaryInformation"), None),  # a compound file, but none we know
        (b"PK\x03\x04 this is not really a zip", None),
        (zip_of({}), "zip"),  # an empty archive is only its end record: PK\x05\x06
        (b"Hello, this is a plain text contract.\n", None),
        (b"", None),
        (b"%PDF", None),  # the header is "%PDF-" and a version
        (b"%PDF-", None),
        (b"%PDF-x.y\n", None),
        (b" %PDF-1.4\n", None),
        (b"%PDF-2.0\n%%EOF\n", "pdf"),
        (b"\x89PNG", None),
        (b"\x89PNG\r\n\x1a\n", None),  # the signature alone: no IHDR chunk
        (png()[:8] + png()[33:], None),  # the IDAT chunk first: not a PNG
        (b"GIF89a\x01\x00\x01\x00", None),
        (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 26, None),  # a signature with a wrong CRC
        (seven_zip()[:-1], None),  # the next header is cut off
        (b"7z\xbc\xaf\x27\x1c", None),
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


# --- OLE2: the directory, not a search of the bytes (issue 15, kind 7) ----------------------

#: The issue's example: an Excel workbook whose cell text says "WordDocument" (in UTF-16LE,
#: as BIFF8 stores strings), so the old byte search took it for a Word document.
SPREADSHEET_SAYING_WORDDOCUMENT = compound_file(
    {"Workbook": b"\x09\x08" + "see the WordDocument attached".encode("utf-16-le")}
)


def test_an_ole2_spreadsheet_whose_text_says_worddocument_is_xls() -> None:
    assert "WordDocument".encode("utf-16-le") in SPREADSHEET_SAYING_WORDDOCUMENT
    assert sniff_type(SPREADSHEET_SAYING_WORDDOCUMENT) == "xls"


@pytest.mark.parametrize(
    ("streams", "storages", "expected"),
    [
        ({"WordDocument": b"w", "1Table": b"t"}, None, "doc"),
        ({"PowerPoint Document": b"p", "Current User": b"u"}, None, "ppt"),
        ({"Workbook": b"b", "Book": b"b"}, None, "xls"),  # Excel "97 & 5.0/95" writes both
        ({"WORDDOCUMENT": b"w"}, None, "doc"),  # [MS-CFB] names compare case-insensitively
        # Each text mentions the others; only the directory counts.
        ({"PowerPoint Document": "Workbook Book WordDocument".encode("utf-16-le")}, None, "ppt"),
        # A Word file with an embedded workbook: that one lives in a storage, not at the root.
        ({"WordDocument": b"w"}, {"ObjectPool": {"Workbook": b"b"}}, "doc"),
        ({"Contents": b"c"}, {"ObjectPool": {"WordDocument": b"w"}}, None),
        # Two applications' main streams at the root: no application wrote this.
        ({"WordDocument": b"w", "Workbook": b"b"}, None, None),
        # A storage (folder) named like a main stream is not one.
        ({"Contents": b"c"}, {"WordDocument": {"x": b"x"}}, None),
        # An encrypted OOXML file is an OLE2 container of its own kind.
        ({"EncryptionInfo": b"i", "EncryptedPackage": b"p"}, None, None),
    ],
)
def test_ole2_types_come_from_root_level_streams(streams, storages, expected) -> None:
    assert sniff_type(compound_file(streams, storages)) == expected


OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@pytest.mark.parametrize(
    "data",
    [
        OLE2_MAGIC,
        OLE2_MAGIC + b"/etc/passwd",  # short bytes: olefile would take them for a path
        # The old test sample: a header and a directory entry, but no FAT, no sectors.
        OLE2_MAGIC
        + b"\x00" * 16
        + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
        + b"\x00" * (512 - 32)
        + "WordDocument".encode("utf-16-le").ljust(128, b"\x00"),
        ole2("WordDocument")[:700],  # cut inside the FAT
        ole2("WordDocument")[:1024],  # cut before the directory
        OLE2_MAGIC + b"\xff" * 4096,
    ],
    ids=["magic", "short", "header-only", "cut-in-fat", "cut-before-directory", "all-ones"],
)
def test_a_damaged_compound_file_is_of_no_type(data: bytes) -> None:
    assert sniff_type(data) is None


def test_a_compound_file_whose_directory_is_elsewhere_is_of_no_type() -> None:
    data = bytearray(ole2("WordDocument"))
    struct.pack_into("<I", data, 0x30, 4000)  # the first directory sector, past the end
    assert sniff_type(bytes(data)) is None
    struct.pack_into("<I", data, 0x30, 3)  # a sector of stream data, not directory entries
    assert sniff_type(bytes(data)) is None


def test_a_compound_file_whose_chains_loop_is_judged_without_hanging() -> None:
    data = bytearray(ole2("WordDocument"))
    struct.pack_into("<I", data, 512 + 4 * 1, 1)  # the directory's chain: sector 1 -> 1
    struct.pack_into("<I", data, 512 + 4 * 5, 3)  # the stream's chain loops back
    # olefile reads the directory's one sector and stops: its entries are still there.
    assert sniff_type(bytes(data)) == "doc"


# --- Office Open XML: the package's main part, not a folder name (issue 15, kind 7) -------

OOXML = "application/vnd.openxmlformats-officedocument"
STRICT_RELATIONSHIP = "http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (package("docx", target="/word/document.xml"), "docx"),  # absolute target
        (package("docx", target="./word/document.xml"), "docx"),
        (package("xlsx", extra={"word/document.xml": "<w/>"}), "xlsx"),  # a stray word/ folder
        # The main part's type from the Default for its extension, no Override.
        (
            zip_of(
                {
                    "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"><Default Extension="XML" '
                    f'ContentType="{OOXML}.presentationml.presentation.main+xml"/></Types>',
                    "_rels/.rels": relationships({"deck/main.xml": RELATIONSHIP}),
                    "deck/main.xml": "<p/>",
                }
            ),
            "pptx",
        ),
        # ISO/IEC 29500 strict packages name the relationship differently.
        (
            zip_of(
                {
                    "[Content_Types].xml": content_types(
                        {"/word/document.xml": MAIN_PARTS["docx"][1]}
                    ),
                    "_rels/.rels": relationships({"word/document.xml": STRICT_RELATIONSHIP}),
                    "word/document.xml": "<w/>",
                }
            ),
            "docx",
        ),
    ],
    ids=["absolute-target", "dot-target", "stray-word-folder", "default-type", "strict"],
)
def test_ooxml_types_come_from_the_main_part(data: bytes, expected: str) -> None:
    assert sniff_type(data) == expected


def _bomb_xml() -> str:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{n} "{("&a" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE Types [{entities}]><Types>&a9;</Types>'


@pytest.mark.parametrize(
    "data",
    [
        # The old rule's "docx": content types and a word/ folder, no package structure.
        zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
        zip_of({"word/document.xml": "<w/>"}),
        zip_of({"[Content_Types].xml": content_types({}), "xl/workbook.xml": "<w/>"}),
        package("docx", with_main_part=False),  # names a main part that is not there
        package("docx", content_type="application/xml"),  # the main part is plain XML
        # Macro-enabled documents have a main part of another type: not a docx.
        package("docx", content_type="application/vnd.ms-word.document.macroEnabled.main+xml"),
        package("docx", target="word/missing.xml"),
        # Two main parts: OPC allows one.
        zip_of(
            {
                "[Content_Types].xml": content_types(
                    {"/word/document.xml": MAIN_PARTS["docx"][1], "/xl/workbook.xml": "x"}
                ),
                "_rels/.rels": relationships(
                    {"word/document.xml": RELATIONSHIP, "xl/workbook.xml": RELATIONSHIP}
                ),
                "word/document.xml": "<w/>",
                "xl/workbook.xml": "<w/>",
            }
        ),
        # An external target is not a part of the package.
        zip_of(
            {
                "[Content_Types].xml": content_types({"/word/document.xml": MAIN_PARTS["docx"][1]}),
                "_rels/.rels": relationships({}).replace(
                    "</Relationships>",
                    f'<Relationship Id="r" Type="{RELATIONSHIP}" Target="word/document.xml" '
                    'TargetMode="External"/></Relationships>',
                ),
                "word/document.xml": "<w/>",
            }
        ),
        package("docx", extra={"[Content_Types].xml": _bomb_xml()}),
        package("docx", extra={"_rels/.rels": "<Relationships><unclosed>"}),
        package("docx", extra={"_rels/.rels": b"\xff\xfe\x00garbage"}),
    ],
    ids=[
        "old-rule",
        "word-folder-only",
        "content-types-and-xl-folder",
        "missing-main-part",
        "plain-xml-main-part",
        "macro-enabled",
        "wrong-target",
        "two-main-parts",
        "external-target",
        "entity-bomb",
        "broken-rels",
        "binary-rels",
    ],
)
def test_a_zip_without_an_office_main_part_is_a_zip(data: bytes) -> None:
    assert sniff_type(data) == "zip"


def _lying_sizes(data: bytes, member: str, claimed: int) -> bytes:
    """``data`` with ``member``'s uncompressed size rewritten, in its local and central headers."""
    patched = bytearray(data)
    name = member.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = patched.find(signature)
        while at != -1:
            if patched[at + name_at : at + name_at + len(name)] == name:
                struct.pack_into("<I", patched, at + size_at, claimed)
            at = patched.find(signature, at + 1)
    return bytes(patched)


def test_a_huge_package_part_is_never_decompressed() -> None:
    huge = content_types({"/word/document.xml": MAIN_PARTS["docx"][1]}).replace(
        "</Types>", "<!--" + " " * (64 * 1024 * 1024) + "--></Types>"
    )
    data = package("docx", extra={"[Content_Types].xml": huge})
    assert len(data) < 1024 * 1024  # 64 MiB of text, compressed
    assert sniff_type(data) == "zip"
    # A part that claims to be small but inflates to 64 MiB: read up to the cap, then given up.
    lying = _lying_sizes(data, "[Content_Types].xml", 2000)
    assert sniff_type(lying) == "zip"


def test_an_encrypted_or_cut_zip_is_no_office_file() -> None:
    data = bytearray(docx())
    at = data.find(b"PK\x01\x02")
    while at != -1:  # every member marked encrypted in the central directory
        data[at + 8] |= 0x01
        at = data.find(b"PK\x01\x02", at + 1)
    assert sniff_type(bytes(data)) == "zip"
    assert sniff_type(docx()[:-30]) is None  # the end record is cut off


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([docx(), xlsx(), ole2("WordDocument"), SPREADSHEET_SAYING_WORDDOCUMENT]),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    st.integers(min_value=0),
)
def test_damaged_office_files_never_raise(original: bytes, flips, cut: int) -> None:
    data = bytearray(original)
    for at, value in flips:
        data[at % len(data)] = value
    data = data[: len(data) - cut % 64]
    assert sniff_type(bytes(data)) in CONTRACT_TYPES | {"xls", None}


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"", b"%PDF-", b"\x89PNG\r\n\x1a\n", b"7z\xbc\xaf\x27\x1c", OLE2_MAGIC])
    | st.sampled_from([b"PK\x03\x04", b"PK\x05\x06"]),
    st.binary(max_size=2048),
)
def test_any_bytes_have_a_known_type_or_none(prefix: bytes, rest: bytes) -> None:
    assert sniff_type(prefix + rest) in CONTRACT_TYPES | {"xls", None}


# --- hostile members of every compression method (issue 15) -------------------------------

COMPRESSIONS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def _member_data_at(data: bytes, name: str) -> int:
    """Where ``name``'s compressed bytes start (after its local header, APPNOTE 4.3.7)."""
    offset = zipfile.ZipFile(io.BytesIO(data)).getinfo(name).header_offset
    name_length, extra_length = struct.unpack_from("<HH", data, offset + 26)
    return offset + 30 + name_length + extra_length


def _overwrite(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("kind", ["docx", "xlsx", "pptx"])
def test_office_packages_of_every_compression_method_are_known(kind: str, compression: int):
    assert sniff_type(package(kind, compression=compression)) == kind


@pytest.mark.parametrize("member", ["_rels/.rels", "[Content_Types].xml"])
@pytest.mark.parametrize(
    "header",
    [
        # The issue's: LZMA properties byte 0xFF ("Invalid or unsupported options").
        b"\x09\x14\x05\x00\xff\x00\x00\x10\x00",
        # Valid properties, then a range coder that starts wrong ("Corrupt input data").
        b"\x09\x14\x05\x00\x5d\x00\x00\x10\x00\xff\xff\xff\xff\xff",
        # Properties byte 225: lc + lp + pb beyond their ranges.
        b"\x09\x14\x05\x00\xe1\x00\x00\x10\x00",
        # A properties size that is not 5.
        b"\x09\x14\x00\x00",
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ],
)
def test_a_member_with_bad_lzma_properties_makes_no_office_file(member: str, header: bytes):
    data = package("docx", compression=zipfile.ZIP_LZMA)
    hostile = _overwrite(data, _member_data_at(data, member), header)
    assert sniff_type(hostile) == "zip"


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("garbage", [b"\xff" * 16, b"\x00" * 16, b"BZh9" + b"\x00" * 12])
def test_a_damaged_member_of_any_method_makes_no_office_file(compression: int, garbage: bytes):
    data = package("docx", compression=compression)
    hostile = _overwrite(data, _member_data_at(data, "_rels/.rels"), garbage)
    assert sniff_type(hostile) in ("zip", "docx")  # stored bytes may still read as XML


@pytest.mark.parametrize("method", [1, 6, 9, 97, 98, 99, 0xFFFF])
def test_a_member_of_an_unsupported_compression_method_makes_no_office_file(method: int):
    data = bytearray(package("docx"))
    for signature, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = data.find(signature)
        while start != -1:  # every header names the method: local 4.3.7, central 4.3.12
            struct.pack_into("<H", data, start + at, method)
            start = data.find(signature, start + 1)
    assert sniff_type(bytes(data)) == "zip"


def test_member_names_that_are_not_utf8_make_no_office_file() -> None:
    data = bytearray(package("docx"))
    start = data.find(b"PK\x01\x02")
    while start != -1:  # flag 11 (UTF-8 names, APPNOTE 4.4.4) on names with a bad byte
        data[start + 8] |= 0x08
        name_at = start + 46
        data[name_at] = 0xFF
        start = data.find(b"PK\x01\x02", start + 1)
    assert sniff_type(bytes(data)) in ("zip", None)


_OLE2_ORIGINALS = [
    ole2("WordDocument", b"w" * 600),
    ole2("PowerPoint Document", b"p" * 5000),
    compound_file({"Workbook": b"x" * 100}, {"_VBA_PROJECT_CUR": {"VBA": b"v" * 700}}),
    SPREADSHEET_SAYING_WORDDOCUMENT,
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["docx", "xlsx", "pptx"]),
    st.sampled_from(COMPRESSIONS),
    st.sampled_from(["_rels/.rels", "[Content_Types].xml", None]),
    st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.integers(0, 255)), max_size=8),
    st.integers(min_value=0, max_value=64),
)
def test_mutated_packages_of_every_compression_method_never_raise(
    kind: str, compression: int, member: str | None, flips, cut: int
) -> None:
    """Bytes changed inside a package part's compressed data (or anywhere, for ``None``)."""
    data = bytearray(package(kind, compression=compression))
    start = _member_data_at(bytes(data), member) if member else 0
    for at, value in flips:
        data[(start + at) % len(data)] = value
    data = data[: len(data) - cut]
    assert sniff_type(bytes(data)) in CONTRACT_TYPES | {"xls", None}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(_OLE2_ORIGINALS),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
    st.integers(min_value=0, max_value=4096),
)
def test_mutated_compound_files_never_raise(original: bytes, flips, cut: int) -> None:
    data = bytearray(original)
    for at, value in flips:
        # Most in the header, FAT and directory, where the structure is.
        data[at % min(len(data), 2048) if at % 2 else at % len(data)] = value
    data = data[: max(8, len(data) - cut)]
    assert sniff_type(bytes(data)) in CONTRACT_TYPES | {"xls", None}


def test_a_zip_of_too_many_members_is_a_zip_without_reading_its_directory() -> None:
    crowded = zip_of({f"{n}": b"" for n in range(MAX_ZIP_MEMBERS + 1)}, zipfile.ZIP_STORED)
    started = time.monotonic()
    assert sniff_type(crowded) == "zip"
    assert time.monotonic() - started < 0.1  # the directory of 10,001 members was not read
    # A package stays a package up to the bound, its parts beside the extra members.
    fillers = {f"media/{n}.bin": b"" for n in range(MAX_ZIP_MEMBERS - 10)}
    assert sniff_type(package("docx", extra=fillers, compression=zipfile.ZIP_STORED)) == "docx"
    too_many = {f"media/{n}.bin": b"" for n in range(MAX_ZIP_MEMBERS)}
    assert sniff_type(package("docx", extra=too_many, compression=zipfile.ZIP_STORED)) == "zip"


def test_the_zip_member_bound_uses_the_end_record(monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_ZIP_MEMBERS", 3)
    assert sniff_type(package("docx")) == "zip"  # 4 members: more than the bound
    monkeypatch.setattr(files, "MAX_ZIP_MEMBERS", 4)
    assert sniff_type(package("docx")) == "docx"


def test_a_compound_file_of_too_many_directory_entries_is_not_looked_into(monkeypatch) -> None:
    # The root, WordDocument and 1Table: 3 entries, in one 512-byte sector of 4.
    doc = compound_file({"WordDocument": b"w", "1Table": b"t"})
    assert sniff_type(doc) == "doc"
    monkeypatch.setattr(files, "MAX_OLE2_DIRECTORY_ENTRIES", 3)
    assert sniff_type(doc) is None  # the directory's sector holds room for 4 entries
    monkeypatch.setattr(files, "MAX_OLE2_DIRECTORY_ENTRIES", 4)
    assert sniff_type(doc) == "doc"


# --- the contract rule with these files -------------------------------------------------


def test_the_issues_spreadsheet_is_no_contract() -> None:
    # XLS is not among the contract types, whatever the file is named.
    for name in ("contract.doc", "contract.xls", "contract"):
        problem = contract_problem(_facts(SPREADSHEET_SAYING_WORDDOCUMENT, name))
        assert problem is not None and ALLOWED_WORDS in problem and "this file is XLS" in problem
    real_doc = compound_file({"WordDocument": b"w", "1Table": "Workbook".encode("utf-16-le")})
    assert contract_problem(_facts(real_doc, "contract.doc")) is None


def test_a_zip_with_a_word_folder_is_no_docx_contract() -> None:
    fake = zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"})
    problem = contract_problem(_facts(fake, "contract.docx"))
    assert problem is not None and "named .docx but its content is ZIP" in problem
    assert contract_problem(_facts(fake, "contract.zip")) is None
    assert contract_problem(_facts(docx(), "contract.docx")) is None
    assert contract_problem(_facts(pptx(), "contract.pptx")) is None
