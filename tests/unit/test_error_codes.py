"""Every ``error`` code the gateway's code answers is in the published catalogue
(``models.ERROR_CODES``, which the OpenAPI document's Error schema lists), under its status."""

from __future__ import annotations

import re
from pathlib import Path

from services.gateway.models import ERROR_CODES

GATEWAY = Path(__file__).resolve().parents[2] / "services" / "gateway"
#: ``HttpError(422, "code"`` and the refusal helpers written alike, over several lines too.
WRITTEN = re.compile(
    r"(?:HttpError|refusal_response|PageError)\(\s*(?:request,\s*)?(\d{3}),\s*\"([a-z_]+)\""
)


def test_every_code_written_is_in_the_catalogue_under_its_status() -> None:
    written = {
        (int(status), code)
        for path in GATEWAY.rglob("*.py")
        for status, code in WRITTEN.findall(path.read_text())
    }
    assert written, "the pattern found no code: it no longer reads the gateway"
    missing = {
        (status, code) for status, code in written if code not in ERROR_CODES.get(status, ())
    }
    assert not missing


def test_the_document_lists_the_catalogue() -> None:
    from services.gateway.openapi import openapi_document

    described = openapi_document()["components"]["schemas"]["Error"]["properties"]["error"]
    for codes in ERROR_CODES.values():
        for code in codes:
            assert code in described["description"]
