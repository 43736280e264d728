"""The OpenAPI 3.1 document, generated from the pydantic models that validate requests (the
commands) and describe answers (``models.py``); ``docs.py`` shows it as a page."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import models_json_schema

from services.gateway import models, pages
from services.gateway.publishing import MAX_IDEMPOTENCY_KEY
from services.gateway.requests import MAX_JSON_BYTES
from services.gateway.views import PendingDelivery
from shared.domain.commands import COMMAND_MODELS, PUBLIC_DELIVERY_COMMANDS, OpenDelivery
from shared.domain.states import State

_REF = "#/components/schemas/{model}"


def _ref(model: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=model)}


def _json(model: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(model)}},
        **extra,
    }


def _error(description: str) -> dict[str, Any]:
    return _json("Error", description)


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}
_LOCATION = {
    "Location": {
        "description": "where the command's status is read: /v1/commands/{command_id}",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 challenge: Bearer realm="delivery-center", '
        'error="invalid_request" or "invalid_token", error_description',
        "schema": {"type": "string"},
    }
}
#: Answers every authenticated operation may give.
_CALLER_ERRORS = {
    "401": _json(
        "Error",
        "missing, malformed, expired or wrongly signed token, untyped claims, or unknown role",
        headers=_WWW_AUTHENTICATE,
    ),
    "403": _error("the caller's role may not do this"),
    "429": _json("Error", "the caller's rate limit is spent", headers=_RETRY_AFTER),
    "503": _json("Error", "the broker or the database is unreachable", headers=_RETRY_AFTER),
}
_JSON_BODY_ERRORS = {
    "400": _error("the body is not a JSON object"),
    "413": _error(f"the body is larger than {MAX_JSON_BYTES} bytes"),
    "422": _error("invalid input; `fields` names each field at fault"),
}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _public(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"summary": summary, "security": [], "responses": responses}


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    command_models = [COMMAND_MODELS[name] for name in sorted(PUBLIC_DELIVERY_COMMANDS)]
    _, schemas = models_json_schema(
        [(model, "validation") for model in [OpenDelivery, *command_models]]
        + [(model, "serialization") for model in (*models.RESPONSE_MODELS, PendingDelivery)],
        ref_template=_REF,
    )
    components = schemas.get("$defs", {})
    command_body = {
        "oneOf": [_ref(m.__name__) for m in command_models],
        "discriminator": {
            "propertyName": "type",
            "mapping": {
                m.model_fields["type"].default: _REF.format(model=m.__name__)
                for m in command_models
            },
        },
    }
    state_schema = TypeAdapter(State).json_schema()
    delivery_id = _path_id("delivery_id")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Delivery Center",
            "version": "1",
            "description": (
                "Commands answer 202 once the broker has confirmed them and are applied "
                "asynchronously; read their outcome at /v1/commands/{command_id}."
            ),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            **pages.openapi_paths(),
            "/v1/deliveries": {
                "post": {
                    "summary": "Open a delivery for a paid order (marketplace, admin)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("OpenDelivery")}},
                    },
                    "responses": {
                        "202": _json(
                            "Opened",
                            "accepted, or accepted before: the same order gives the same ids",
                            headers=_LOCATION,
                        ),
                        "409": _error(
                            "order_already_open: the order is open or accepted with other "
                            "details; `delivery_id` names its delivery, `fields` what differs"
                        ),
                        **_JSON_BODY_ERRORS,
                        **_CALLER_ERRORS,
                    },
                },
                "get": {
                    "summary": "The caller's deliveries (admin and marketplace: all)",
                    "parameters": [
                        _query("state", state_schema, "only deliveries in this state"),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, ""),
                        _query("skip", {"type": "integer", "minimum": 0, "maximum": 10**9}, ""),
                    ],
                    "responses": {
                        "200": _json("DeliveryList", "newest first"),
                        "400": _error("invalid query"),
                        **_CALLER_ERRORS,
                    },
                },
            },
            "/v1/deliveries/{delivery_id}": {
                "get": {
                    "summary": "The whole delivery (its customer and ISV, admin, marketplace)",
                    "parameters": [delivery_id],
                    "responses": {
                        "200": _json("DeliveryView", "the delivery"),
                        "202": _json(
                            "PendingDelivery",
                            "its open is accepted, not applied yet; ask again",
                            headers={
                                **_RETRY_AFTER,
                                "Location": {
                                    **_LOCATION["Location"],
                                    "description": "the open's status, to its sender and admins",
                                },
                            },
                        ),
                        "404": _error("no such delivery for the caller"),
                        **_CALLER_ERRORS,
                    },
                }
            },
            "/v1/deliveries/{delivery_id}/commands": {
                "post": {
                    "summary": "Send a command (its customer and ISV, admin); applied later",
                    "parameters": [
                        delivery_id,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "the same key and body give the same command id",
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_IDEMPOTENCY_KEY,
                            },
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": command_body}},
                    },
                    "responses": {
                        "202": _json(
                            "Accepted", "accepted: read its outcome later", headers=_LOCATION
                        ),
                        "404": _error("no such delivery for the caller"),
                        "409": _json(
                            "Error",
                            "delivery_pending: its open is accepted, not applied yet; "
                            "nothing was published, send again later",
                            headers=_RETRY_AFTER,
                        ),
                        **_JSON_BODY_ERRORS,
                        **_CALLER_ERRORS,
                    },
                }
            },
            "/v1/commands/{command_id}": {
                "get": {
                    "summary": "A command's outcome: accepted, applied or rejected with reason",
                    "parameters": [_path_id("command_id")],
                    "responses": {
                        "200": _json("CommandOutcome", "the outcome so far"),
                        "404": _error("no such command sent by the caller"),
                        **_CALLER_ERRORS,
                    },
                }
            },
            "/v1/deliveries/{delivery_id}/attachments": {
                "post": {
                    "summary": "Upload an attachment (its customer and ISV)",
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
                        "201": _json("Attachment", "stored; its type judged from its bytes"),
                        "400": _error("malformed multipart, no field 'file' or an empty file"),
                        "404": _error("no such delivery for the caller"),
                        "413": _error("the file is larger than DC_MAX_ATTACHMENT_BYTES"),
                        "415": _error("the body is not multipart/form-data"),
                        **_CALLER_ERRORS,
                    },
                }
            },
            "/v1/attachments/{attachment_id}": {
                "get": {
                    "summary": "Download an attachment (its delivery's customer and ISV, admin)",
                    "parameters": [_path_id("attachment_id")],
                    "responses": {
                        "200": {
                            "description": (
                                "the file, typed as judged from its bytes "
                                "(application/octet-stream when unknown), "
                                "with a safe Content-Disposition"
                            ),
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                        },
                        "404": _error("no such attachment for the caller"),
                        **_CALLER_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": _public(
                    "This document",
                    {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                )
            },
            "/docs": {
                "get": _public(
                    "This document as a page",
                    {
                        "200": {
                            "description": "HTML",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                )
            },
            "/healthz": {
                "get": _public("The process is up", {"200": _json("Health", "ok")}),
            },
            "/metrics": {
                "get": _public(
                    "Prometheus metrics of the gateway",
                    {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                )
            },
            "/readyz": {
                "get": _public(
                    "The broker and the database are reachable",
                    {"200": _json("Health", "ready"), "503": _error("not ready")},
                ),
            },
        },
    }
