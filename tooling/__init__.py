"""Local infrastructure: provisions RabbitMQ and FerretDB on this machine, and an SMTP sink."""

from tooling.ferretdb import ensure_ferretdb
from tooling.provision import (
    ProvisionError,
    ensure_infrastructure,
    ensure_rabbitmq,
    is_loopback,
)

__all__ = [
    "ProvisionError",
    "ensure_ferretdb",
    "ensure_infrastructure",
    "ensure_rabbitmq",
    "is_loopback",
]
