"""A real browser through a real proxy: the warning page, Continue, and the site.

Debian's Chromium driven by Playwright (never `playwright install`), trusting the
proxy's CA through its own NSS database, as /work/shared/BROWSER.md describes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")


def certutil(*args: str) -> None:
    subprocess.run(["certutil", *args], check=True, timeout=30, capture_output=True)


def browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM,) if not p.exists()]
    if shutil.which("certutil") is None:
        missing.append("certutil")
    return ", ".join(missing) or None


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory: pytest.TempPathFactory, mitmproxy_ca: Path) -> Path:
    """A HOME whose NSS database trusts the proxy's CA (Chromium reads only that)."""
    if (missing := browser_missing()) is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} missing: .ci/run installs chromium and libnss3-tools")
        pytest.skip(f"{missing} not installed")
    home = tmp_path_factory.mktemp("browser-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    database = f"sql:{nssdb}"
    certutil("-N", "-d", database, "--empty-password")
    ca = mitmproxy_ca / "mitmproxy-ca-cert.pem"
    certutil("-A", "-d", database, "-t", "C,,", "-n", "leeway", "-i", str(ca))
    return home


@pytest.fixture(scope="module")
def browser_proxy(module_proxies: Proxies) -> LeewayProcess:
    return module_proxies.start()


@pytest.fixture
def page(browser_home: Path, browser_proxy: LeewayProcess, tmp_path: Path) -> Iterator[Page]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[*FLAGS, '--host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"'],
            env={**os.environ, "HOME": str(browser_home)},
            proxy={"server": browser_proxy.url},
        )
        context = browser.new_context()
        yield context.new_page()
        context.close()
        browser.close()


def test_warning_page_continue_then_the_site(
    page: Page, https_origin: Origin, tmp_path: Path
) -> None:
    url = f"https://www.facebook.com:{https_origin.port}/feed?from=browser"
    first = page.goto(url)
    assert first is not None and first.status == 403
    assert page.title() == "Before you continue to www.facebook.com"
    page.screenshot(path=str(tmp_path / "warning.png"))
    assert https_origin.requests_for("www.facebook.com") == []
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert page.url == url
    assert '"origin": true' in page.content()
    # The page first, then whatever the browser fetches on its own (a favicon).
    paths = [seen.path for seen in https_origin.requests_for("www.facebook.com")]
    assert paths[0] == "/feed?from=browser"
    page.screenshot(path=str(tmp_path / "continued.png"))
