"""Chromium for the browser tests: Debian's package, installed with apt-get when missing.

Playwright drives this Chromium (``executable_path``); its own browser downloads
(``playwright install``) are never used, so a machine without internet access to Playwright's
CDN still runs the tests.
"""

from __future__ import annotations

from pathlib import Path

from tooling.provision import ProvisionError, apt_install, console, find_program

#: Where Debian's ``chromium`` package puts its launcher.
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a headless Chromium that neither needs a sandbox nor talks to the network itself.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> Path | None:
    """The Chromium on this machine, if any."""
    if CHROMIUM.exists():
        return CHROMIUM
    return find_program("chromium") or find_program("chromium-browser")


def ensure_chromium() -> Path:
    """Chromium's launcher; installs Debian's ``chromium`` with apt-get (as root) if missing."""
    found = chromium_path()
    if found is not None:
        return found
    console.print("Chromium is missing: installing Debian's chromium package for browser tests")
    apt_install("chromium")
    found = chromium_path()
    if found is None:
        raise ProvisionError("apt-get installed chromium but no chromium launcher was found")
    return found
