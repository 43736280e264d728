"""The aiohttp application: routes, error middleware, health, the OpenAPI document and /docs."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from aiohttp import web

from services.gateway import (
    attachments,
    command_status,
    deliveries,
    events,
    metrics,
    opening,
    pages,
    scorecards,
    webhooks,
)
from services.gateway.context import GATEWAY, Gateway, gateway_of
from services.gateway.contracts import Reply, documented, error, text
from services.gateway.docs import docs_page
from services.gateway.errors import (
    PAGE_REFUSAL,
    error_response,
    json_errors,
    remember_started,
)
from services.gateway.models import Health, json_answer
from services.gateway.openapi import openapi_document
from services.gateway.ratelimit import RateLimiter
from services.gateway.requests import form_limit, framed_bodies
from services.runtime.bootstrap import make_broker
from services.runtime.collections import database, ensure_indexes, make_mongo
from shared.config import Settings

routes = web.RouteTableDef()
#: Longest wait for one database answer, in milliseconds.
MONGO_SOCKET_TIMEOUT_MS = 10_000


@routes.get("/healthz")
@documented("The process is up", public=True, responses={200: Reply("ok", Health)})
async def healthz(request: web.Request) -> web.Response:
    """GET /healthz, anyone: 200 ``{"status": "ok"}`` while the process serves (brief)."""
    return json_answer(Health(status="ok"))


@routes.get("/readyz")
@documented(
    "The broker and the database are reachable",
    public=True,
    responses={200: Reply("ready", Health), 503: error("not ready")},
)
async def readyz(request: web.Request) -> web.Response:
    """GET /readyz, anyone: 200 ``{"status": "ready"}`` when the database answers a ping and
    the broker a connection, each within 3 s; else 503 ``not_ready`` naming each failure."""
    gateway = gateway_of(request)
    problems = []
    try:
        await asyncio.wait_for(gateway.db.command("ping"), timeout=3)
    except Exception as error:  # any failure means "not ready"; the answer names it
        problems.append(f"database: {error}")
    try:
        await asyncio.wait_for(asyncio.to_thread(lambda: gateway.broker.connection), timeout=3)
    except Exception as error:
        problems.append(f"broker: {error}")
    if problems:
        return error_response(503, "not_ready", "; ".join(problems))
    return json_answer(Health(status="ready"))


@routes.get("/openapi.json")
@documented(
    "This document",
    public=True,
    responses={200: text("application/json", "OpenAPI 3.1", {"type": "object"})},
)
async def openapi(request: web.Request) -> web.Response:
    """GET /openapi.json, anyone: the OpenAPI 3.1 document (``openapi.openapi_document``)."""
    return web.json_response(openapi_document(gateway_of(request).settings.address_policy))


@routes.get("/docs")
@documented("This document as a page", public=True, responses={200: text("text/html", "HTML")})
async def docs(request: web.Request) -> web.Response:
    """GET /docs, anyone: the OpenAPI document as an HTML page without scripts (``docs.py``)."""
    return web.Response(
        text=docs_page(),
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def refusal_page(status: int, message: str) -> web.StreamResponse:
    """A refusal on a page route as the pages' error page, titled by its status."""
    return pages.error_page(pages.PageError(status, HTTPStatus(status).phrase, message))


#: Every route the gateway serves, in the order they are added; each declares its contract
#: (``contracts.documented``), and the OpenAPI document is made from those of the API's.
ROUTE_TABLES = (
    routes,
    opening.routes,
    deliveries.routes,
    command_status.routes,
    attachments.routes,
    webhooks.routes,
    events.routes,
    scorecards.routes,
    pages.routes,
    metrics.routes,
)
#: The route tables of the API that ``/openapi.json`` documents: all but the HTML pages, which
#: browsers follow through signed links (the ``t`` query token), not API clients; the README's
#: "Delivery pages" describes them.
API_ROUTE_TABLES = tuple(table for table in ROUTE_TABLES if table is not pages.routes)


def create_app(settings: Settings) -> web.Application:
    """The gateway's application: every route of :data:`ROUTE_TABLES`, its middlewares and
    clients; the indexes are ensured on startup, the clients closed on cleanup.

    Parameters:
      settings(Settings): The broker and database URLs, the body limits
        (``requests.form_limit``) and the rate limit (requests per second per caller, burst).

    Returns:
      web.Application: Not started; the clients connect lazily.
    """
    app = web.Application(
        middlewares=[metrics.measured, json_errors, framed_bodies],
        client_max_size=form_limit(settings),
    )
    # No database call may hang a request: a stuck socket gives up and answers 503.
    client = make_mongo(settings, socketTimeoutMS=MONGO_SOCKET_TIMEOUT_MS)
    app[GATEWAY] = Gateway(
        settings=settings,
        db=database(client, settings),
        broker=make_broker(settings),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
    )
    # Refusals on the pages are pages; their handlers answer their own (pages.html_errors),
    # this the rest (the router's 404 and 405, a body that cannot be read, a failure).
    app[PAGE_REFUSAL] = refusal_page
    # Once a response has started, an error can no longer be answered: see ``errors``.
    app.on_response_prepare.append(remember_started)
    for table in ROUTE_TABLES:
        app.add_routes(table)

    async def lifecycle(app: web.Application):
        await ensure_indexes(app[GATEWAY].db)
        yield
        app[GATEWAY].broker.close()
        await client.close()

    app.cleanup_ctx.append(lifecycle)
    return app
