"""The OpenAPI 3.1 document, derived from the gateway's routes: each route's contract
(``contracts.documented``, beside its handler) gives its operation, and the pydantic models
it names (answers from ``models.py``, request bodies from ``shared.domain.commands``) give
the components. ``docs.py`` shows it as a page.

A route registered without a contract stops the document (``contracts.UndocumentedRoute``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from services.gateway.contracts import Body, Contract, Reply, contract_of
from shared.contracts.schema_files import SchemaGenerator
from shared.domain.address_schema import POLICY_MARKER, policy_schema
from shared.domain.addresses import AddressPolicy

_REF = "#/components/schemas/{model}"
INFO = {
    "title": "Delivery Center",
    "version": "1",
    "description": (
        "Commands answer 202 once the broker has confirmed them and are applied "
        "asynchronously; read their outcome at /v1/commands/{command_id}."
    ),
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json_body(models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    """One model's reference, or several told apart by their ``type`` field's default."""
    if len(models) == 1:
        return _ref(models[0])
    return {
        "oneOf": [_ref(m) for m in models],
        "discriminator": {
            "propertyName": "type",
            "mapping": {m.model_fields["type"].default: _ref(m)["$ref"] for m in models},
        },
    }


def _request_body(body: Body) -> dict[str, Any]:
    content = {"application/json": {"schema": _json_body(body.models)}} if body.models else {}
    content.update({media: {"schema": schema} for media, schema in (body.content or {}).items()})
    return {"required": True, "content": content}


def _response(reply: Reply) -> dict[str, Any]:
    found: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        found["content"] = {"application/json": {"schema": _ref(reply.model)}}
    elif reply.content is not None:
        found["content"] = {media: {"schema": schema} for media, schema in reply.content.items()}
    if reply.headers:
        found["headers"] = dict(reply.headers)
    if reply.links:
        found["links"] = dict(reply.links)
    return found


def operation(contract: Contract) -> dict[str, Any]:
    """The OpenAPI operation object of one route's contract."""
    found: dict[str, Any] = {"summary": contract.summary}
    if contract.public:
        found["security"] = []
    if contract.parameters:
        found["parameters"] = list(contract.parameters)
    if contract.body is not None:
        found["requestBody"] = _request_body(contract.body)
    found["responses"] = {str(status): _response(r) for status, r in contract.responses.items()}
    return found


def _models(contract: Contract) -> Iterable[tuple[type[BaseModel], JsonSchemaMode]]:
    for model in contract.body.models if contract.body else ():
        yield model, "validation"
    for reply in contract.responses.values():
        if reply.model is not None:
            yield reply.model, "serialization"


def routes_of(tables: Iterable[web.RouteTableDef]) -> list[tuple[str, str, Contract]]:
    """``(path, method, contract)`` of every route in ``tables``, in their order (HEAD is
    aiohttp's, added beside each GET, and left out); :class:`UndocumentedRoute` for a route
    without a contract."""
    return [
        (route.path, route.method.lower(), contract_of(route.handler))
        for table in tables
        for route in table
        if isinstance(route, web.RouteDef)
    ]


def with_policy(node: Any, policy: AddressPolicy | None) -> Any:
    """``node`` (a JSON Schema, or part of one) with each email field marked
    ``address_schema.POLICY_MARKER`` given ``policy``'s keywords (``policy_schema``); without
    a policy, the marker is only removed."""
    if isinstance(node, list):
        return [with_policy(item, policy) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: with_policy(value, policy) for key, value in node.items()}
    if found.pop(POLICY_MARKER, False) and policy is not None:
        found |= policy_schema(policy)
    return found


def document_of(
    tables: Iterable[web.RouteTableDef], address_policy: AddressPolicy | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the routes in ``tables`` (see :func:`routes_of`); its email
    fields state ``address_policy`` when one is given (:func:`with_policy`)."""
    routes = routes_of(tables)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, contract in routes:
        paths.setdefault(path, {})[method] = operation(contract)
    models = list(dict.fromkeys(m for _, _, contract in routes for m in _models(contract)))
    # The bus schemas' generator: the same models say the same things in both.
    _, schemas = models_json_schema(models, ref_template=_REF, schema_generator=SchemaGenerator)
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "components": {
            "schemas": with_policy(schemas.get("$defs", {}), address_policy),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


@lru_cache(maxsize=4)
def openapi_document(address_policy: AddressPolicy | None = None) -> dict[str, Any]:
    """The gateway's document: that of its API's route tables (``app.API_ROUTE_TABLES``: every
    route but the HTML pages), for an installation with ``address_policy``
    (``Settings.address_policy``)."""
    # Imported here: the app serves this document, so it imports this module first.
    from services.gateway.app import API_ROUTE_TABLES

    return document_of(API_ROUTE_TABLES, address_policy)
