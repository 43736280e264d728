"""Chromium for the browser tests: Debian's package, installed with apt-get when missing.

Playwright drives this Chromium (``executable_path``); its own browser downloads
(``playwright install``) are never used, so a machine without internet access to Playwright's
CDN still runs the tests.
"""

from __future__ import annotations

import subprocess
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


#: Debian's package of CJK fonts: without one, Chromium draws Chinese text as empty boxes.
CJK_FONTS_PACKAGE = "fonts-noto-cjk"


def has_chinese_font() -> bool:
    """Whether fontconfig knows a font that covers Chinese (``fc-list :lang=zh``)."""
    found = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    )
    return found.returncode == 0 and bool(found.stdout.strip())


def ensure_chinese_font() -> None:
    """Installs Debian's ``fonts-noto-cjk`` with apt-get (as root) when no font covers Chinese,
    as :func:`ensure_chromium` installs Chromium."""
    if has_chinese_font():
        return
    console.print(f"No Chinese font: installing Debian's {CJK_FONTS_PACKAGE} for browser tests")
    apt_install(CJK_FONTS_PACKAGE)
    if not has_chinese_font():
        raise ProvisionError(
            f"apt-get installed {CJK_FONTS_PACKAGE} but fontconfig lists no Chinese font"
        )
