"""Entry point of the gateway: serve HTTP on ``DC_HTTP_HOST:DC_HTTP_PORT`` until SIGTERM."""

from __future__ import annotations

from aiohttp import web

from services.gateway.app import create_app
from services.logs import configure_logging
from shared.config import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings, "gateway")
    web.run_app(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        access_log_format='%a "%r" %s %b %Tfs',
        print=None,
    )
