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


def test_a_secret_in_a_bad_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_AMQP_URL", "amqp://user:hunter2@broker:notaport/")
    monkeypatch.setenv("DC_SMTP_PORT", "hunter2")
    with pytest.raises(ConfigurationError) as caught:
        read_settings()
    assert "hunter2" not in str(caught.value)
    assert "DC_SMTP_PORT" in _lines(caught.value)


@pytest.mark.parametrize("command", [*SERVICES, "up", "link admin"])
def test_a_command_stops_with_the_lines_not_a_traceback(command: str) -> None:
    env = {**os.environ, "DC_DEFAULT_LOCALE": "fr", "DC_SMTP_PORT": "seven"}
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", *command.split()],
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
