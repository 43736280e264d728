"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.domain.commands import COMMAND_MODELS, PUBLIC_DELIVERY_COMMANDS, OpenDelivery

_REF = "#/components/schemas/{model}"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_OBJECT = {"type": "object"}
_AUTH_ERRORS = {"401": _error("missing or invalid token"), "403": _error("role not allowed")}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    command_models = [COMMAND_MODELS[name] for name in sorted(PUBLIC_DELIVERY_COMMANDS)]
    _, schemas = models_json_schema(
        [(model, "validation") for model in [OpenDelivery, *command_models]],
        ref_template=_REF,
    )
    components = schemas.get("$defs", {})
    components["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    }
    command_body = {
        "oneOf": [{"$ref": _REF.format(model=m.__name__)} for m in command_models],
        "discriminator": {"propertyName": "type"},
    }
    delivery_id = {
        "name": "delivery_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Delivery Center", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/deliveries": {
                "post": {
                    "summary": "Open a delivery for a paid order (marketplace, admin)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": _REF.format(model="OpenDelivery")}
                            }
                        },
                    },
                    "responses": {
                        "202": _json(_OBJECT, "accepted: {delivery_id, command_id}"),
                        "409": _error("order open with other details"),
                        "422": _error("invalid input"),
                        "503": _error("broker unavailable"),
                        **_AUTH_ERRORS,
                    },
                },
                "get": {
                    "summary": "The caller's deliveries (admin and marketplace: all)",
                    "parameters": [
                        {
                            "name": "state",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer"},
                        },
                        {
                            "name": "skip",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer"},
                        },
                    ],
                    "responses": {
                        "200": _json(_OBJECT, "{deliveries: [...]}"),
                        "400": _error("invalid query"),
                        **_AUTH_ERRORS,
                    },
                },
            },
            "/v1/deliveries/{delivery_id}": {
                "get": {
                    "summary": "The whole delivery",
                    "parameters": [delivery_id],
                    "responses": {
                        "200": _json(_OBJECT, "the delivery"),
                        "404": _error("no such delivery for the caller"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/v1/deliveries/{delivery_id}/commands": {
                "post": {
                    "summary": "Send a command; applied asynchronously",
                    "parameters": [
                        delivery_id,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": command_body}},
                    },
                    "responses": {
                        "202": _json(_OBJECT, "accepted: {command_id}"),
                        "404": _error("no such delivery for the caller"),
                        "422": _error("invalid input"),
                        "503": _error("broker unavailable"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/v1/commands/{command_id}": {
                "get": {
                    "summary": "A command's outcome: accepted, applied or rejected with reason",
                    "parameters": [
                        {
                            "name": "command_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": _json(_OBJECT, "{command_id, delivery_id, type, status, reason}"),
                        "404": _error("no such command for the caller"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/v1/deliveries/{delivery_id}/attachments": {
                "post": {
                    "summary": "Upload an attachment (multipart field 'file')",
                    "parameters": [delivery_id],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                    "required": ["file"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json(
                            _OBJECT, "{attachment_id, filename, size, content_type, sha256}"
                        ),
                        "404": _error("no such delivery for the caller"),
                        "413": _error("file too large"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/v1/attachments/{attachment_id}": {
                "get": {
                    "summary": "Download an attachment's bytes",
                    "parameters": [
                        {
                            "name": "attachment_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {"description": "the file"},
                        "404": _error("no such attachment for the caller"),
                        **_AUTH_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": _json(_OBJECT, "OpenAPI")},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "The process is up",
                    "security": [],
                    "responses": {"200": _json(_OBJECT, "ok")},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Broker and database reachable",
                    "security": [],
                    "responses": {"200": _json(_OBJECT, "ready"), "503": _error("not ready")},
                }
            },
        },
    }
