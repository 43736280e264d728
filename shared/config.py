"""Settings: every `DC_` environment variable, read once and passed down."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pymongo.errors import ConfigurationError as PyMongoConfigurationError
from pymongo.errors import InvalidURI
from pymongo.uri_parser import parse_uri

from shared.domain.addresses import DEFAULT_ALLOWED_SPECIAL_USE, AddressPolicy, domain_names
from shared.domain.addresses import configured_address as _configured_address
from shared.domain.locales import DEFAULT_LOCALE, DEFAULT_TIME_ZONE, LocaleTag, TimeZoneName
from shared.domain.webhook_addresses import ADDRESS_KINDS
from shared.durations import Duration
from shared.validation_errors import error_message

#: Bounds of the duration settings (grammar: shared.durations): beyond them a value is a typo.
UpToAYear = Annotated[timedelta, Duration(at_most=timedelta(days=365))]
#: A deadline fires up to one poll interval late: more than an hour is no longer a timer.
UpToAnHour = Annotated[timedelta, Duration(at_most=timedelta(hours=1))]


def address_kinds(value: object) -> frozenset[str]:
    """``DC_WEBHOOK_ALLOWED_ADDRESSES``: comma-separated kinds from
    :data:`~shared.domain.webhook_addresses.ADDRESS_KINDS`; raises ValueError for others."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    kinds = frozenset(value)  # type: ignore[arg-type]
    unknown = sorted(kinds - set(ADDRESS_KINDS))
    if unknown:
        raise ValueError(f"unknown address kinds {unknown}; use {', '.join(ADDRESS_KINDS)}")
    return kinds


def _empty_is_unset(value: object) -> object:
    """None for an empty or blank setting, else ``value``."""
    return None if isinstance(value, str) and not value.strip() else value


#: The shortest secret key: RFC 7518 §3.2 asks HS256 keys of at least 256 bits.
SECRET_KEY_BYTES = 32


def _secret_key(value: str) -> str:
    """A signing secret (``DC_JWT_SECRET``, ``DC_LINK_SECRET``): at least
    :data:`SECRET_KEY_BYTES` bytes, not counting spaces around it; never quoted back."""
    if len(value.strip().encode()) < SECRET_KEY_BYTES:
        raise ValueError(
            f"a signing secret needs at least {SECRET_KEY_BYTES} bytes (RFC 7518 §3.2: 256 "
            "bits for HS256); make one with: openssl rand -hex 32"
        )
    return value


def _mongo_url_problem(url: str) -> str | None:
    """Why ``url`` is not a MongoDB connection string PyMongo can use, or None; the reason is
    PyMongo's, found without the user and password, so it cannot quote them. A
    ``mongodb+srv://`` URL is only checked for a host (its records are looked up when
    connecting)."""
    scheme, _, rest = url.partition("://")
    if scheme == "mongodb+srv":
        return None if urlsplit(url).hostname else "a mongodb+srv:// URL needs a host name"
    if scheme != "mongodb":
        return "not a MongoDB URL: use mongodb://user:password@host:port/ (or mongodb+srv://)"
    hosts = rest.partition("/")[0]
    userinfo, at, _ = hosts.rpartition("@")
    without_secrets = url.replace(userinfo + at, "user:password@" if at else "", 1)
    for candidate, blame in ((without_secrets, ""), (url, "the user or password: ")):
        try:
            parse_uri(candidate)
        except (InvalidURI, PyMongoConfigurationError, ValueError) as error:
            if blame:  # the text may quote them
                return f"{blame}escape them as RFC 3986 says (urllib.parse.quote_plus)"
            return f"not a MongoDB connection string PyMongo accepts: {error}"
    return None


#: The schemes of an AMQP URI (RabbitMQ's URI spec).
AMQP_SCHEMES = ("amqp", "amqps")


def redacted_amqp_url(url: str) -> str:
    """``url`` without its user and password (``amqp://***@host:5672/vhost``), for messages
    and logs: credentials in URLs are never shown. Everything from the first ``//`` to the last
    ``@`` goes, so a malformed URL (two run together, a ``/`` in a password) hides too much
    rather than too little."""
    return re.sub(r"//.*@", "//***@", url, flags=re.DOTALL)


def amqp_urls(value: str) -> tuple[str, ...]:
    """``DC_AMQP_URL``: one AMQP URI, or several separated by commas (the nodes of a cluster,
    tried in order: a connection goes to the first that answers, and each new connection,
    after one is lost, tries them all again). Spaces around each are dropped, and a URI
    given twice counts once.

    Raises:
      ValueError: An item is empty, holds a ``;``, or is not an ``amqp://`` or ``amqps://``
        URI with a host; the message names it by position and never quotes it (credentials).
    """
    urls: list[str] = []
    items = value.split(",")
    for position, raw in enumerate(items, 1):
        url = raw.strip()
        # Never the item itself: a malformed one (a ',' in a password splits it) has no
        # sure place where its credentials end.
        where = "the URL" if len(items) == 1 else f"URL {position} of {len(items)}"
        if not url:
            raise ValueError(f"{where} is empty; separate AMQP URLs with single commas")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        except ValueError:  # its text may quote the netloc, so it is not shown
            raise ValueError(
                f"{where} is malformed: a bad port or IPv6 address, or a ',' in a password "
                "(percent-encode it as %2C)"
            ) from None
        if ";" in url:  # dramatiq would split there; percent-encode a ';' in a password
            raise ValueError(
                f"{where} holds ';': separate AMQP URLs with commas, and percent-encode a ';' "
                "in a password as %3B"
            )
        if parts.scheme.lower() not in AMQP_SCHEMES or not parts.hostname:
            raise ValueError(
                f"{where} is not an AMQP URL: use amqp://user:password@host:port/vhost "
                "(or amqps://)"
            )
        if url not in urls:
            urls.append(url)
    return tuple(urls)


class Settings(BaseSettings):
    """Delivery Center's configuration; each field is the variable ``DC_<NAME>``.

    The brief's required variables and their defaults work on one machine. Durations take
    whole seconds or ISO 8601 (``P14D``, ``PT30S``; see ``shared.durations``).

    Raises:
      pydantic.ValidationError: A variable is malformed or out of bounds; the error names it.
    """

    model_config = SettingsConfigDict(
        env_prefix="DC_",
        extra="ignore",
        frozen=True,
        # An error names the variable, never echoes its value: URLs and secrets hold credentials.
        hide_input_in_errors=True,
    )

    #: The broker: one AMQP URI, or the nodes of a cluster as several separated by commas
    #: (:func:`amqp_urls`; the first that answers is used, the others on connection loss).
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    #: Type of every queue the product declares (services.runtime.queue_types): ``classic`` on
    #: one node; ``quorum`` (replicated, with a delivery limit) on a cluster. An existing
    #: queue's type cannot change in place (README, Running at scale).
    queue_type: Literal["classic", "quorum"] = "classic"
    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "delivery_center"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    #: Whether the SMTP server takes SMTPUTF8 (RFC 6531): only then are addresses with a
    #: local part beyond ASCII accepted (and sent with SMTPUTF8); off, the API refuses them.
    smtp_utf8: bool = False
    #: Special-use domains (RFC 2606, RFC 6761) accepted anyway, comma-separated, each with
    #: the names under it; see shared.domain.addresses. Empty: none.
    email_special_use_domains: Annotated[
        frozenset[str], NoDecode, BeforeValidator(domain_names)
    ] = frozenset(DEFAULT_ALLOWED_SPECIAL_USE)
    #: Kinds of webhook address allowed besides public ones, comma-separated, from
    #: ``loopback``, ``private``, ``link_local`` (shared.domain.webhook_addresses); empty by
    #: default, which refuses them all (SSRF). Tests allow ``loopback``.
    webhook_allowed_addresses: Annotated[
        frozenset[str], NoDecode, BeforeValidator(address_kinds)
    ] = frozenset()
    #: The wait before a failed webhook's first retry; each next wait doubles, up to an hour.
    webhook_retry_base: UpToAnHour = timedelta(seconds=5)
    #: How long Delivery Center keeps retrying a webhook that fails before disabling its
    #: endpoint and emailing the admin (Standard Webhooks: at least a day of retries).
    webhook_retry_for: Annotated[timedelta, Duration(at_most=timedelta(days=30))] = timedelta(
        days=1
    )
    #: How long an email's sender holds its claim; after it, the sender is presumed dead and
    #: another takes over. The notifier's SMTP and database limits derive from it
    #: (services.notifier.budget); RabbitMQ's 30-minute consumer timeout bounds it.
    smtp_sending_lease: Annotated[timedelta, Duration(at_most=timedelta(minutes=20))] = timedelta(
        seconds=60
    )
    mail_from: str = "Delivery Center <delivery-center@localhost>"
    admin_email: str = "admin@localhost"
    #: The language a party reads in when the delivery names none (a BCP 47 tag of English
    #: or Simplified Chinese as CLDR spells it, shared.domain.locales), and the time zone
    #: (an IANA name): applied when read, so changing them changes what every such party reads.
    default_locale: LocaleTag = DEFAULT_LOCALE
    default_time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    #: The language and time zone of the admin's emails and pages; None: the defaults above.
    # An empty variable (``DC_ADMIN_LOCALE=`` in an env file) is unset, as the README says.
    admin_locale: Annotated[LocaleTag | None, BeforeValidator(_empty_is_unset)] = None
    admin_time_zone: Annotated[TimeZoneName | None, BeforeValidator(_empty_is_unset)] = None
    #: Verifies the bearer tokens: JWTs (RFC 7519) signed HS256 (RFC 7518), per the brief.
    jwt_secret: Annotated[str, AfterValidator(_secret_key)] = (
        "dev-only-secret-change-me-in-production"
    )
    #: Signs the links in emails that open a delivery's page as one party; **change it outside
    #: development** (a leaked secret lets anyone forge such links).
    link_secret: Annotated[str, AfterValidator(_secret_key)] = (
        "dev-only-link-secret-change-me-in-production"
    )
    #: How long a link from an email stays valid.
    link_ttl: UpToAYear = timedelta(days=30)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, lt=65536)
    public_url: str = "http://127.0.0.1:8080"
    #: The customer's time to confirm before the system does (the brief: 14 days by default).
    confirm_window: UpToAYear = timedelta(days=14)
    #: How long before the automatic confirmation the reminder goes out (the brief: 3 days).
    reminder_lead: UpToAYear = timedelta(days=3)
    #: How often the timer worker looks for due deadlines.
    timer_poll_interval: UpToAnHour = timedelta(seconds=1)
    #: How often the timer worker recomputes the scorecard table of every ISV (``/admin``).
    scorecard_refresh: Annotated[timedelta, Duration(at_most=timedelta(days=1))] = timedelta(
        minutes=5
    )
    #: Largest attachment the gateway accepts, in bytes (contracts have their own 5 MB rule).
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    #: Requests per second each caller (a token's ``sub`` and role) may make on average.
    rate_limit_per_second: float = Field(default=50.0, ge=0.001)
    #: Requests a caller may make at once before the average rate applies.
    rate_limit_burst: int = Field(default=100, ge=1)
    #: Ports of the workers' Prometheus endpoints (``/metrics``); 0 turns one off.
    #: The gateway serves ``/metrics`` on its own HTTP port.
    workflow_metrics_port: int = Field(default=9101, ge=0, lt=65536)
    timers_metrics_port: int = Field(default=9102, ge=0, lt=65536)
    notifier_metrics_port: int = Field(default=9103, ge=0, lt=65536)
    #: Where locally provisioned RabbitMQ/FerretDB data, binaries and caught mail live.
    state_dir: Path = Path.home() / ".local" / "share" / "delivery-center"
    #: The services' log level (Python's ``logging`` names; any case).
    log_level: Annotated[
        Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
        BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    ] = "INFO"

    @field_validator("amqp_url")
    @classmethod
    def _amqp_urls(cls, value: str) -> str:
        amqp_urls(value)
        return value

    @field_validator("mongo_url")
    @classmethod
    def _mongo_url(cls, value: str) -> str:
        problem = _mongo_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @property
    def amqp_urls(self) -> tuple[str, ...]:
        """``amqp_url``'s URIs in order (:func:`amqp_urls`), one or more."""
        return amqp_urls(self.amqp_url)

    @property
    def address_policy(self) -> AddressPolicy:
        """Which email addresses this installation can send to (shared.domain.addresses)."""
        return AddressPolicy(
            smtputf8=self.smtp_utf8, allowed_special_use=self.email_special_use_domains
        )

    @property
    def admin_reader_locale(self) -> str:
        """The locale the admin reads in: ``admin_locale``, else ``default_locale``."""
        return self.admin_locale or self.default_locale

    @property
    def admin_reader_time_zone(self) -> str:
        """The time zone the admin reads in: ``admin_time_zone``, else ``default_time_zone``."""
        return self.admin_time_zone or self.default_time_zone

    def reader_locale(self, locale: str | None) -> str:
        """A party's locale as read: ``locale`` (a delivery's ``customer_locale`` or
        ``isv_locale``), else ``default_locale``."""
        return locale or self.default_locale

    def reader_time_zone(self, time_zone: str | None) -> str:
        """A party's time zone as read: ``time_zone`` (a delivery's ``customer_time_zone``
        or ``isv_time_zone``), else ``default_time_zone``."""
        return time_zone or self.default_time_zone

    @field_validator("mail_from", "admin_email")
    @classmethod
    def _sendable(cls, value: str, info: ValidationInfo) -> str:
        """Our own addresses obey the rule the API applies to the parties' (the policy from the
        fields above, declared first)."""
        if "smtp_utf8" not in info.data or "email_special_use_domains" not in info.data:
            return value  # reported already
        policy = AddressPolicy(
            smtputf8=info.data["smtp_utf8"],
            allowed_special_use=info.data["email_special_use_domains"],
        )
        return _configured_address(value, policy, display_name=info.field_name == "mail_from")


class ConfigurationError(ValueError):
    """``DC_`` variables are malformed; the message has a line per bad variable, its name and
    the rule it breaks (pydantic's input is hidden: URLs and secrets hold credentials)."""


def read_settings() -> Settings:
    """The settings from the environment as it is now (uncached: tests change it).

    Raises:
      ConfigurationError: A ``DC_`` variable is malformed or out of bounds.
    """
    try:
        return Settings()
    except ValidationError as error:
        prefix = Settings.model_config["env_prefix"]
        problems = [
            (f"{prefix}{str(item['loc'][0]).upper()}: " if item["loc"] else "")
            + error_message(item)
            for item in error.errors(include_url=False)
        ]
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def settings_or_exit() -> Settings:
    """:func:`get_settings` for a program's start: a :class:`ConfigurationError` ends the
    process with exit status 1 and its lines on stderr, not a traceback."""
    try:
        return get_settings()
    except ConfigurationError as error:
        raise SystemExit(f"error: {error}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment, read once per process and cached.

    Raises:
      ConfigurationError: A ``DC_`` variable is malformed or out of bounds.
    """
    return read_settings()
