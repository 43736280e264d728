"""The gateway's Prometheus series and its ``/metrics`` route."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from services.gateway.contracts import documented, text

REQUESTS = Counter(
    "dc_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
REQUEST_SECONDS = Histogram("dc_http_request_seconds", "Time to answer a request.", ["route"])

routes = web.RouteTableDef()


@routes.get("/metrics")
@documented(
    "Prometheus metrics of the gateway",
    public=True,
    responses={200: text("text/plain", "Prometheus text format")},
)
async def metrics(request: web.Request) -> web.Response:
    """GET /metrics, anyone: this process's series in Prometheus's text exposition format."""
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _route_of(request: web.Request) -> str:
    # The route's template, not the path: one series per route, not per delivery.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def measured(request: web.Request, handler: Any) -> web.StreamResponse:
    """Middleware: count each answer by method, route template and status, and time it in
    seconds; an exception that is not an HTTP answer counts as 500 and is raised again."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        route = _route_of(request)
        REQUESTS.labels(request.method, route, str(status)).inc()
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
