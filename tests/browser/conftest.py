"""A real browser (Debian's Chromium driven by Playwright) against a whole running system.

The system is the integration tests' (``running_system``), on its own virtual host and
database, with a link secret of its own and the real 14-day confirmation window, so nothing
confirms itself while a test is looking at the page. One browser serves the session; each test
gets a fresh browser context (no cookies, no cache).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from shared.config import Settings
from tests.browser.chromium import CHROMIUM_ARGS, ensure_chinese_font, ensure_chromium
from tests.integration.conftest import api, db, mail, parties  # noqa: F401  (fixtures)
from tests.integration.system import ARTIFACTS, System, running_system
from tests.integration.waiting import PATIENCE
from tooling.mailsink import MailSink

#: Playwright's waits (actions, navigations, ``expect``) default to 5-30 s, sized for a quiet
#: machine; what the page waits for comes from the whole system, so they get its patience.
PAGE_PATIENCE_MS = int(PATIENCE * 1000)
expect.set_options(timeout=PAGE_PATIENCE_MS)

LINK_SECRET = "browser-tests-link-secret-at-least-32-bytes"
SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.fixture(scope="session")
def system(mail: MailSink) -> Iterator[System]:  # noqa: F811  (this folder's own system)
    with running_system(
        mail.port,
        "browser",
        DC_LINK_SECRET=LINK_SECRET,
        DC_CONFIRM_WINDOW="P14D",
        DC_REMINDER_LEAD="P3D",
    ) as running:
        yield running


@pytest.fixture(scope="session")
def settings(system: System) -> Settings:
    """The settings the gateway runs with: links signed with them open its pages."""
    values = {k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")}
    return Settings(**values)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = ensure_chromium()
    ensure_chinese_font()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(PAGE_PATIENCE_MS)
    opened = await context.new_page()
    yield opened
    await context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
