"""The OpenAPI document as a plain HTML page (``/docs``): no scripts, nothing from the
network."""

from __future__ import annotations

import html
import json
from functools import lru_cache
from typing import Any

from services.gateway.openapi import openapi_document

_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code,pre{font-family:ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;"
    "overflow:auto}h2{margin-top:2rem;border-top:1px solid #ccc;padding-top:1rem}"
    ".m{font-weight:bold;text-transform:uppercase}"
)


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["oneOf"])
    return schema.get("type", "any")


@lru_cache(maxsize=1)
def docs_page() -> str:
    """The document as a page that needs nothing from the network: routes, then schemas."""
    document = openapi_document()
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(document['info']['title'])} API</title><style>{_PAGE_STYLE}</style></head>",
        f"<body><h1>{e(document['info']['title'])} API</h1>",
        f"<p>{e(document['info']['description'])}</p>",
        "<p>Every route but the public ones needs <code>Authorization: Bearer &lt;JWT&gt;</code>"
        " (HS256, claims <code>sub</code>, <code>role</code>, <code>exp</code>). "
        "The machine-readable document is <a href='/openapi.json'>/openapi.json</a>.</p>",
    ]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts.append(
                f"<h2><span class='m'>{e(method)}</span> <code>{e(path)}</code></h2>"
                f"<p>{e(operation['summary'])}</p>"
            )
            if operation.get("security") == []:
                parts.append("<p>Public: no token needed.</p>")
            parameters = operation.get("parameters", [])
            if parameters:
                parts.append("<p>Parameters:</p><ul>")
                parts.extend(
                    f"<li><code>{e(p['name'])}</code> ({e(p['in'])}"
                    f"{', required' if p.get('required') else ''}) {e(p.get('description', ''))}"
                    "</li>"
                    for p in parameters
                )
                parts.append("</ul>")
            if "requestBody" in operation:
                parts.append("<p>Body:</p><ul>")
                parts.extend(
                    f"<li><code>{e(media)}</code>: {e(_schema_name(content['schema']))}</li>"
                    for media, content in operation["requestBody"]["content"].items()
                )
                parts.append("</ul>")
            parts.append("<p>Answers:</p><ul>")
            for status, response in operation["responses"].items():
                shapes = ", ".join(
                    _schema_name(c["schema"]) for c in response.get("content", {}).values()
                )
                parts.append(
                    f"<li><code>{e(status)}</code> {e(response['description'])}"
                    f"{' (' + e(shapes) + ')' if shapes else ''}</li>"
                )
            parts.append("</ul>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(
            f"<h3 id='{e(name)}'>{e(name)}</h3><pre>{e(json.dumps(schema, indent=2))}</pre>"
        )
    parts.append("</body></html>")
    return "".join(parts)
