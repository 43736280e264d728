"""A malformed ``DC_`` variable stops a start with its name and its rule, one line each, and
no traceback: the settings (shared.config.read_settings) and every command that reads them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.cli import SERVICES
from shared.config import ConfigurationError, read_settings

#: Bad values of several kinds of setting: a parse error, a bound, our own validators.
BAD = {
    "DC_SMTP_PORT": ("seven", "Input should be a valid integer"),
    "DC_DEFAULT_LOCALE": ("fr", "there is no translation for the locale 'fr'"),
    "DC_ADMIN_TIME_ZONE": ("Mars/Olympus", "'Mars/Olympus' is not an IANA time zone name"),
    "DC_CONFIRM_WINDOW": ("P2Y", "counts years or months"),
    "DC_QUEUE_TYPE": ("stream", "Input should be 'classic' or 'quorum'"),
    "DC_JWT_SECRET": ("", "a signing secret needs at least 32 bytes"),
    "DC_LINK_SECRET": ("   short   ", "a signing secret needs at least 32 bytes"),
    "DC_LOG_LEVEL": ("LOUD", "Input should be 'CRITICAL', 'ERROR', 'WARNING', 'INFO' or 'DEBUG'"),
    "DC_HTTP_PORT": ("70000", "Input should be less than 65536"),
    "DC_RATE_LIMIT_PER_SECOND": ("1e-300", "Input should be greater than or equal to 0.001"),
    "DC_MONGO_URL": ("mongodb://dc:hunter2@db:notaport/", "Port contains non-digit characters"),
}


def _lines(error: ConfigurationError) -> dict[str, str]:
    head, *problems = str(error).splitlines()
    assert head == "invalid configuration:"
    named = dict(line.strip().split(": ", 1) for line in problems)
    assert len(named) == len(problems)
    return named


def test_every_bad_variable_has_a_line_with_its_name_and_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, (value, _) in BAD.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        read_settings()
    lines = _lines(caught.value)
    assert set(lines) == set(BAD)
    for variable, (_, rule) in BAD.items():
        assert rule in lines[variable]
        assert not lines[variable].startswith(("Value error", "Assertion failed"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DC_AMQP_URL", "amqp://user:hunter2@broker:notaport/"),
        # A ',' in a password splits the list where no redaction can tell the parts apart.
        ("DC_AMQP_URL", "amqp://user:hunter2,x@broker:5672/"),
        ("DC_AMQP_URL", "amqp://user:hunter2"),
        ("DC_AMQP_URL", "amqp:/user:hunter2@broker"),
        ("DC_MONGO_URL", "mongodb://user:hunter2@db:notaport/"),
        ("DC_MONGO_URL", "mongodb://user:hun@ter2@db/"),
        ("DC_MONGO_URL", "mongodb://user:hunter2@/"),
        ("DC_JWT_SECRET", "hunter2"),
        ("DC_SMTP_PORT", "hunter2"),
    ],
)
def test_a_secret_in_a_bad_value_is_not_echoed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        read_settings()
    assert "hunter2" not in str(caught.value)
    assert variable in _lines(caught.value)


def test_a_log_level_may_be_written_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_LOG_LEVEL", " debug ")
    assert read_settings().log_level == "DEBUG"


COMMANDS = [
    *([sys.executable, "-m", "services.cli", *words.split()] for words in SERVICES),
    [sys.executable, "-m", "services.cli", "up"],
    [sys.executable, "-m", "services.cli", "link", "admin"],
    # The services' own entry points, as the Docker image and python -m start them.
    *([sys.executable, "-m", f"services.{name}"] for name in SERVICES),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[2:]) for c in COMMANDS])
def test_a_command_stops_with_the_lines_not_a_traceback(command: list[str]) -> None:
    env = {**os.environ, "DC_DEFAULT_LOCALE": "fr", "DC_SMTP_PORT": "seven"}
    run = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "error: invalid configuration:" in run.stderr
    assert "DC_DEFAULT_LOCALE: there is no translation for the locale 'fr'" in run.stderr
    assert "DC_SMTP_PORT: Input should be a valid integer" in run.stderr
