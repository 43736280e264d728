"""Office Open XML packages (ECMA-376 Part 2) built with zipfile, for test fixtures: the
smallest package each application opens, and variants missing one piece of the structure."""

from __future__ import annotations

import io
import zipfile

RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_OOXML = "application/vnd.openxmlformats-officedocument"
MAIN_PARTS = {
    "docx": ("word/document.xml", f"{_OOXML}.wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", f"{_OOXML}.spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml", f"{_OOXML}.presentationml.presentation.main+xml"),
}
_MAIN_XML = {
    "docx": '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>Contract</w:t></w:r></w:p></w:body></w:document>",
    "xlsx": '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    "<sheets/></workbook>",
    "pptx": '<p:presentation xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"/>',
}


def zip_of(members: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def content_types(overrides: dict[str, str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(
            f'<Override PartName="{part}" ContentType="{kind}"/>'
            for part, kind in overrides.items()
        )
        + "</Types>"
    )


def relationships(targets: dict[str, str]) -> str:
    """``_rels/.rels`` with one relationship per (target -> type)."""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{kind}" Target="{target}"/>'
            for n, (target, kind) in enumerate(targets.items(), 1)
        )
        + "</Relationships>"
    )


def package(
    kind: str,
    *,
    target: str | None = None,
    content_type: str | None = None,
    extra: dict[str, str | bytes] | None = None,
    with_main_part: bool = True,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A ``kind`` (docx, xlsx, pptx) package; ``target`` and ``content_type`` replace what
    ``_rels/.rels`` and ``[Content_Types].xml`` say of the main part; every member stored
    with ``compression`` (a zipfile ``ZIP_*`` method)."""
    part, main_type = MAIN_PARTS[kind]
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types({f"/{part}": content_type or main_type}),
        "_rels/.rels": relationships({target or part: RELATIONSHIP}),
        "docProps/core.xml": "<coreProperties/>",
    }
    if with_main_part:
        members[part] = _MAIN_XML[kind]
    return zip_of({**members, **(extra or {})}, compression)


def docx() -> bytes:
    return package("docx")


def xlsx() -> bytes:
    return package("xlsx")


def pptx() -> bytes:
    return package("pptx")
