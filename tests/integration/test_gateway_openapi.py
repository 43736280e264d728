"""The OpenAPI document: valid OpenAPI 3, one entry per route the gateway serves, and a /docs
page rendered from it that needs nothing from the network."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.web import RouteDef
from openapi_spec_validator import validate

from services.gateway import app as gateway_app
from services.gateway.pages import routes as pages_routes
from shared.config import Settings
from tests.integration.client import Api

METHODS = {"get", "post", "put", "patch", "delete"}


def _documented(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS
    }


@pytest.fixture
def app(monkeypatch) -> web.Application:
    """The gateway's real application, without a broker connection (routes are all we read)."""
    monkeypatch.setattr(gateway_app, "make_broker", lambda settings: None)
    return gateway_app.create_app(Settings())


async def test_the_document_is_valid_openapi(api: Api):
    status, document = await api.request("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    validate(document)


async def test_the_document_covers_every_route_of_the_app_but_the_pages(
    api: Api, app: web.Application
):
    _, document = await api.request("GET", "/openapi.json")
    pages = {(route.method, route.path) for route in pages_routes if isinstance(route, RouteDef)}
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = _documented(document)
    assert pages and not pages & documented, "the HTML pages are not the API's"
    assert not registered - pages - documented, "routes missing from services/gateway/openapi.py"
    assert not documented - registered, "documented routes the app does not serve"


async def test_commands_in_the_document_are_the_ones_accepted(api: Api):
    _, document = await api.request("GET", "/openapi.json")
    body = document["paths"]["/v1/deliveries/{delivery_id}/commands"]["post"]["requestBody"]
    mapping = body["content"]["application/json"]["schema"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "submit_demand",
        "upload_contract",
        "finish",
        "confirm",
        "request_changes",
        "request_warranty_service",
        "confirm_warranty",
        "open_dispute",
        "resolve_dispute",
        "terminate",
    }
    submit = document["components"]["schemas"]["SubmitDemand"]
    assert set(submit["required"]) >= {"contact", "demands"}
    assert submit["additionalProperties"] is False


async def test_docs_lists_every_route_and_loads_nothing_from_elsewhere(api: Api):
    _, document = await api.request("GET", "/openapi.json")
    async with api.session.get(api.base_url + "/docs") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    for method, path in _documented(document):
        assert re.search(rf">{method.lower()}</span> <code>{re.escape(path)}</code>", page), (
            method,
            path,
        )
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
