"""Debian's Chromium for the end-to-end tests: a HOME that trusts the proxy's CA, a launch.

Driven by Playwright (never `playwright install`), as /work/shared/BROWSER.md describes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The browser resolves no name itself: everything goes through the proxy.
    '--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"',
]


def certutil(*args: str) -> None:
    subprocess.run(["certutil", *args], check=True, timeout=30, capture_output=True)


def browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM,) if not p.exists()]
    if shutil.which("certutil") is None:
        missing.append("certutil")
    return ", ".join(missing) or None


def skip_without_browser() -> None:
    """Skip (fail on CI, which installs them) when Chromium or certutil is missing."""
    if (missing := browser_missing()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing: .ci/run installs chromium and libnss3-tools")
        pytest.skip(f"{missing} not installed")


def trusting_home(home: Path, ca: Path) -> Path:
    """`home` with a fresh NSS database that trusts `ca` (Chromium on Linux reads only that)."""
    skip_without_browser()
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    certutil("-N", "-d", database, "--empty-password")
    certutil("-A", "-d", database, "-t", "C,,", "-n", "leeway", "-i", str(ca))
    return home


def launch(playwright: Playwright, home: Path, proxy_url: str) -> Browser:
    """Chromium with its own HOME, every request through the proxy at `proxy_url`."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=FLAGS,
        env={**os.environ, "HOME": str(home)},
        proxy={"server": proxy_url},
    )
