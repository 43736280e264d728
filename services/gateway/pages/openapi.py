"""The OpenAPI entries of the pages, merged into the gateway's document."""

from __future__ import annotations

from typing import Any

from services.gateway.pages.words import FORM_FIELDS


def openapi_paths() -> dict[str, Any]:
    """OpenAPI path items for the pages, to merge into the gateway's document (they answer
    HTML and are opened with a link token, not a bearer token)."""

    def html(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"text/html": {"schema": {"type": "string"}}},
        }

    def param(name: str, where: str, description: str, required: bool = True) -> dict[str, Any]:
        return {
            "name": name,
            "in": where,
            "required": required,
            "description": description,
            "schema": {"type": "string"},
        }

    token = param("t", "query", "the signed link token from an email")
    refused = {
        "403": html("the link is changed, expired or for another delivery or party"),
        "429": html("too many requests from this link; see Retry-After"),
    }
    form_fields = {
        name: {"type": "string"} for name in ("t", "csrf", "type", "nonce", "back", *FORM_FIELDS)
    }
    form_fields["file"] = {"type": "array", "items": {"type": "string", "format": "binary"}}
    return {
        "/d/{delivery_id}": {
            "get": {
                "summary": "A delivery's page, as the link's party; never changes anything",
                "security": [],
                "parameters": [
                    param("delivery_id", "path", "the delivery"),
                    token,
                    param("action", "query", "the action whose form is made ready", False),
                    param("command", "query", "a command sent from the page: its outcome", False),
                ],
                "responses": {
                    "200": html("the page"),
                    "404": html("no such delivery"),
                    **refused,
                },
            }
        },
        "/d/{delivery_id}/commands": {
            "post": {
                "summary": "Press a button of the page: the command goes the API's path",
                "security": [],
                "parameters": [param("delivery_id", "path", "the delivery")],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": form_fields,
                                "required": ["t", "csrf", "type"],
                            }
                        },
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {k: v for k, v in form_fields.items() if k != "file"},
                                "required": ["t", "csrf", "type"],
                            }
                        },
                    },
                },
                "responses": {
                    "303": {"description": "accepted: see the page for the outcome"},
                    "400": html("the form could not be read"),
                    "413": html("a file is too large"),
                    "422": html("the form again, each field's problem beside it"),
                    "503": html("the broker or the database is unreachable; nothing was done"),
                    **refused,
                },
            }
        },
        "/d/{delivery_id}/files/{attachment_id}": {
            "get": {
                "summary": "Download a file of the delivery with the link token",
                "security": [],
                "parameters": [
                    param("delivery_id", "path", "the delivery"),
                    param("attachment_id", "path", "the file"),
                    token,
                ],
                "responses": {
                    "200": {
                        "description": "the file's bytes",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "404": html("no such file in this delivery"),
                    **refused,
                },
            }
        },
        "/admin": {
            "get": {
                "summary": "The administrators' list of deliveries (an admin link)",
                "security": [],
                "parameters": [
                    token,
                    param("state", "query", "only deliveries in this state", False),
                    param("overdue", "query", "1: only overdue deliveries", False),
                    param("command", "query", "a command sent from the list: its outcome", False),
                ],
                "responses": {"200": html("the list"), **refused},
            }
        },
    }
