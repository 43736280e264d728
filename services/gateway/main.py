"""Entry point of the gateway: serve HTTP on ``DC_HTTP_HOST:DC_HTTP_PORT`` until SIGTERM."""

from __future__ import annotations

import asyncio

from services.gateway.app import create_app
from services.gateway.serving import serve
from services.runtime.logs import configure_logging
from shared.config import settings_or_exit


def main() -> None:
    """Serve the gateway with the ``DC_`` settings until SIGTERM or SIGINT (``serving.serve``)."""
    settings = settings_or_exit()
    configure_logging(settings, "gateway")
    asyncio.run(
        serve(
            create_app(settings),
            host=settings.http_host,
            port=settings.http_port,
            access_log_format='%a "%r" %s %b %Tfs',
        )
    )
