"""Structured logs: one JSON object per line, carrying the ids of what it is about.

Every service logs through the standard library; structlog renders each record as JSON
with the service name, level, logger, message, any ``extra`` fields and the ids bound
for the current task (``delivery_id``, ``command_id``, ``event_id``), so one delivery's
story is ``grep <delivery_id>`` across the four services' output.
"""

from __future__ import annotations

import logging

import structlog

from shared.config import Settings

bind_ids = structlog.contextvars.bound_contextvars


def configure_logging(settings: Settings, service: str) -> None:
    """Send every log record to stderr as one JSON object per line, replacing other handlers.

    Parameters:
      settings(Settings): ``log_level`` (``DC_LOG_LEVEL``), a standard level name.
      service(str): Written as ``service`` in every record, e.g. ``"workflow"``.
    """
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            lambda _, __, event: {"service": service, **event},
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    logging.getLogger("pika").setLevel(logging.WARNING)
