"""Settings: every `DC_` environment variable, read once and passed down."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _seconds_or_iso(value: object) -> object:
    """Environment variables arrive as strings; "30" means thirty seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is whole seconds or ISO 8601, not true or false")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("duration must be positive")
    return value


#: A duration given as whole seconds (``30``) or ISO 8601 (``P14D``, ``PT30S``).
Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso), AfterValidator(_positive)]


class Settings(BaseSettings):
    """Delivery Center's configuration; each field is the variable ``DC_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DC_", extra="ignore", frozen=True)

    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "delivery_center"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Delivery Center <delivery-center@localhost>"
    admin_email: str = "admin@localhost"
    jwt_secret: str = "dev-only-secret-change-me-in-production"
    #: Signs the links in emails that open a delivery's page as one party; **change it outside
    #: development** (a leaked secret lets anyone forge such links).
    link_secret: str = "dev-only-link-secret-change-me-in-production"
    #: How long a link from an email stays valid.
    link_ttl: Duration = timedelta(days=30)
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    confirm_window: Duration = timedelta(days=14)
    reminder_lead: Duration = timedelta(days=3)
    #: How often the timer worker looks for due deadlines.
    timer_poll_interval: Duration = timedelta(seconds=1)
    #: Largest attachment the gateway accepts, in bytes (contracts have their own 5 MB rule).
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: Requests per second each caller (a token's ``sub`` and role) may make on average.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    #: Requests a caller may make at once before the average rate applies.
    rate_limit_burst: int = Field(default=100, ge=1)
    #: Ports of the workers' Prometheus endpoints (``/metrics``); 0 turns one off.
    #: The gateway serves ``/metrics`` on its own HTTP port.
    workflow_metrics_port: int = Field(default=9101, ge=0, lt=65536)
    timers_metrics_port: int = Field(default=9102, ge=0, lt=65536)
    notifier_metrics_port: int = Field(default=9103, ge=0, lt=65536)
    #: Where locally provisioned RabbitMQ/FerretDB data, binaries and caught mail live.
    state_dir: Path = Path.home() / ".local" / "share" / "delivery-center"
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
