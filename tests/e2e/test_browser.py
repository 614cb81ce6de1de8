"""A real browser through a real proxy: the warning page, Continue, and the site.

Debian's Chromium driven by Playwright (`tests.e2e.chromium`), trusting the proxy's CA
through its own NSS database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.chromium import launch, trusting_home
from tests.e2e.conftest import Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory: pytest.TempPathFactory, mitmproxy_ca: Path) -> Path:
    """A HOME whose NSS database trusts the proxy's CA (Chromium reads only that)."""
    home = tmp_path_factory.mktemp("browser-home")
    return trusting_home(home, mitmproxy_ca / "mitmproxy-ca-cert.pem")


@pytest.fixture(scope="module")
def browser_proxy(module_proxies: Proxies) -> LeewayProcess:
    return module_proxies.start()


@pytest.fixture
def page(browser_home: Path, browser_proxy: LeewayProcess, tmp_path: Path) -> Iterator[Page]:
    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright, browser_home, browser_proxy.url)
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
