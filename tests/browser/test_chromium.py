"""ensure_chromium and ensure_chinese_font: what is there is used, a missing one installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium as browser
from tooling.provision import ProvisionError


def test_an_installed_chromium_is_used_as_is(monkeypatch, tmp_path: Path):
    launcher = tmp_path / "chromium"
    launcher.touch()
    monkeypatch.setattr(browser, "CHROMIUM", launcher)
    monkeypatch.setattr(browser, "apt_install", lambda *p: pytest.fail("nothing to install"))
    assert browser.ensure_chromium() == launcher


def test_a_missing_chromium_is_installed_with_apt(monkeypatch, tmp_path: Path):
    launcher = tmp_path / "chromium"
    installed: list[tuple[str, ...]] = []
    monkeypatch.setattr(browser, "CHROMIUM", launcher)
    monkeypatch.setattr(browser, "find_program", lambda name, *also: None)
    monkeypatch.setattr(
        browser, "apt_install", lambda *packages: (installed.append(packages), launcher.touch())
    )
    assert browser.ensure_chromium() == launcher
    assert installed == [("chromium",)]


def test_an_install_that_leaves_no_chromium_is_an_error(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(browser, "find_program", lambda name, *also: None)
    monkeypatch.setattr(browser, "apt_install", lambda *packages: None)
    with pytest.raises(ProvisionError, match="no chromium launcher"):
        browser.ensure_chromium()


def test_a_chinese_font_that_is_there_is_used_as_is(monkeypatch):
    monkeypatch.setattr(browser, "has_chinese_font", lambda: True)
    monkeypatch.setattr(browser, "apt_install", lambda *p: pytest.fail("nothing to install"))
    browser.ensure_chinese_font()


def test_a_missing_chinese_font_is_installed_with_apt(monkeypatch):
    installed: list[tuple[str, ...]] = []
    monkeypatch.setattr(browser, "has_chinese_font", lambda: bool(installed))
    monkeypatch.setattr(browser, "apt_install", lambda *packages: installed.append(packages))
    browser.ensure_chinese_font()
    assert installed == [("fonts-noto-cjk",)]


def test_an_install_that_leaves_no_chinese_font_is_an_error(monkeypatch):
    monkeypatch.setattr(browser, "has_chinese_font", lambda: False)
    monkeypatch.setattr(browser, "apt_install", lambda *packages: None)
    with pytest.raises(ProvisionError, match="no Chinese font"):
        browser.ensure_chinese_font()
