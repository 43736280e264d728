"""The aiohttp application: routes, error middleware, health and the OpenAPI document."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.bootstrap import make_broker, make_mongo
from services.collections import database, ensure_indexes
from services.gateway import attachments, deliveries
from services.gateway.context import GATEWAY, Gateway, gateway_of
from services.gateway.errors import error_response, json_errors
from services.gateway.openapi import openapi_document
from shared.config import Settings

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
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
    return web.json_response({"status": "ready"})


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[json_errors], client_max_size=settings.max_attachment_bytes + 1024 * 1024
    )
    client = make_mongo(settings)
    app[GATEWAY] = Gateway(
        settings=settings, db=database(client, settings), broker=make_broker(settings)
    )
    app.add_routes(routes)
    app.add_routes(deliveries.routes)
    app.add_routes(attachments.routes)

    async def lifecycle(app: web.Application):
        await ensure_indexes(app[GATEWAY].db)
        yield
        app[GATEWAY].broker.close()
        await client.close()

    app.cleanup_ctx.append(lifecycle)
    return app
