"""Small helpers shared by the gateway tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.integration.client import Api, Party

#: A tiny file whose bytes say PDF.
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


async def upload(
    api: Api, delivery_id: str, party: Party, content: bytes = PDF, filename: str = "file.pdf"
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", content, filename=filename, content_type="application/octet-stream")
    return await api.request("POST", f"/v1/deliveries/{delivery_id}/attachments", party, data=form)
