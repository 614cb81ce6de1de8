"""The access page in Debian's Chromium through a real `leeway run`: axe-core at 1280 and
390 px (screenshots as artefacts), the keyboard, and a request from a block page.

One proxy (everyone logs in; a policy whose block page names a role; a store of the
module's own) and one browser for the module; each person browses in a context of their
own, logged in to the proxy as themselves. The visitor nobody knows uses the session's
open proxy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.axe import check_page
from tests.e2e.chromium import launch, trusting_home
from tests.e2e.conftest import PASSWORDS, Proxies, add_cast
from tests.e2e.origin import Origin
from tests.e2e.portal_setup import PEOPLE, POLICY, PORTAL, leeway_command, request_id
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ProxySettings

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.process]

MAX_TABS = 15
type Open = Callable[[str | None], Page]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    path = tmp_path_factory.mktemp("portal-browser-db") / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    return add_cast(f"sqlite:///{path}", PEOPLE)


@pytest.fixture(scope="module")
def proxy(
    module_proxies: Proxies, store: str, htpasswd: Path, tmp_path_factory: pytest.TempPathFactory
) -> LeewayProcess:
    policy = tmp_path_factory.mktemp("portal-browser-policy") / "policy.toml"
    policy.write_text(POLICY, encoding="utf-8")
    return module_proxies.start(
        *("--proxyauth", f"@{htpasswd}", "--policy", str(policy)),
        env={"LEEWAY_CACHE_TTL": "1"},
        db_url=store,
    )


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory, mitmproxy_ca: Path, proxy: LeewayProcess
) -> Iterator[Browser]:
    home = trusting_home(
        tmp_path_factory.mktemp("portal-home"), mitmproxy_ca / "mitmproxy-ca-cert.pem"
    )
    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright, home, proxy.url)
        yield browser
        browser.close()


@pytest.fixture
def open_as(browser: Browser, proxy: LeewayProcess, open_proxy: LeewayProcess) -> Iterator[Open]:
    """A page for a person, logged in to the proxy as them (None: nobody, on the open proxy)."""
    contexts = []

    def page_of(person: str | None) -> Page:
        settings: ProxySettings = {"server": open_proxy.url}
        if person is not None:
            settings = {"server": proxy.url, "username": person, "password": PASSWORDS[person]}
        context = browser.new_context(proxy=settings, viewport={"width": 1280, "height": 800})
        contexts.append(context)
        return context.new_page()

    yield page_of
    for context in contexts:
        context.close()


def focus_by_tab(page: Page, selector: str) -> None:
    """Press Tab until `selector` has the focus: the keyboard alone reaches it."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    focused = page.evaluate("document.activeElement.outerHTML")
    raise AssertionError(f"{MAX_TABS} Tabs did not reach {selector}; focus is on {focused}")


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    ("person", "title", "says"),
    [
        ("trina", "Your access", "You may read social sites."),
        ("alice", "Your access", "You may not read social sites: it is blocked."),
        (None, "Access to sites through this proxy", "The proxy does not know who you are"),
    ],
    ids=["trained", "untrained", "unidentified"],
)
def test_the_access_page_passes_axe_at_both_widths(
    open_as: Open, person: str | None, title: str, says: str, scheme: str
) -> None:
    page = open_as(person)
    shown = page.goto(f"{scheme}://{PORTAL}/")
    assert shown is not None and shown.status == 200
    assert page.title() == title and says in page.content()
    check_page(page, f"access-{person or 'unidentified'}-{scheme}")


def test_ask_from_the_block_page_by_keyboard_then_the_approval_opens_the_site(
    open_as: Open, store: str, https_origin: Origin
) -> None:
    page = open_as("alice")
    site = f"https://www.facebook.com:{https_origin.port}/feed"
    blocked = page.goto(site)
    assert blocked is not None and blocked.status == 403
    check_page(page, "block-ask-for-access")
    focus_by_tab(page, "textarea[name=justification]")
    page.keyboard.type("I run the press office's <b>page</b>.")
    focus_by_tab(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(f"https://{PORTAL}/requests/")
    assert page.title() == "Your request is recorded"
    quoted = page.locator("blockquote")
    assert quoted.inner_text() == "I run the press office's <b>page</b>."  # text, not markup
    assert quoted.locator("b").count() == 0
    check_page(page, "asked")
    number = request_id(page.url.removeprefix(f"https://{PORTAL}"))
    approved = leeway_command(store, "requests", "approve", str(number))
    assert approved.returncode == 0, approved.stderr

    def visit() -> int:
        response = page.goto(site)
        return 0 if response is None else response.status

    eventually(visit, "alice reaches the site", until=lambda status: status == 200, within=10)
    assert '"origin": true' in page.content()


def test_the_request_page_and_a_denial_by_keyboard(open_as: Open, store: str) -> None:
    page = open_as("bea")
    page.goto(f"https://{PORTAL}/")
    page.get_by_role("link", name="ask for access to social sites with this role").first.click()
    page.wait_for_load_state()
    assert page.title() == "Ask for access to social sites"
    check_page(page, "request-form")
    focus_by_tab(page, "textarea[name=justification]")
    page.keyboard.type("Campaign week.")
    focus_by_tab(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    number = request_id(page.url.removeprefix(f"https://{PORTAL}"))
    denied = leeway_command(
        store, "requests", "deny", str(number), "--reason", "The press office posts for you."
    )
    assert denied.returncode == 0, denied.stderr
    page.goto(f"https://{PORTAL}/")
    assert "<strong>denied</strong> (The press office posts for you.)" in page.content()
    check_page(page, "access-denied-request")
