"""The pages in Debian's Chromium: WCAG 2.1 AA (axe-core) at 1280 and 390 px, the keyboard.

The warning and block pages as a real `leeway run` serves them, and every variant of the
templates (the request form too, which the proxy shows once the access page is wired)
rendered and loaded into the same browser. One proxy and one browser for the module.
Screenshots of each page at both widths are saved as artefacts (`tests.e2e.axe`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import pytest

from addons.page_templates import Templates
from addons.pages import ContinueForm, Course, PageFacts, RequestForm, block_page, warn_page
from tests.e2e.axe import check_page
from tests.e2e.chromium import launch, trusting_home
from tests.e2e.conftest import Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.slow, pytest.mark.process]

FACTS = PageFacts(
    host="www.facebook.com",
    category="social",
    guidance=(
        "You represent the organisation online as well as off.",
        "Keep personal opinions clearly your own, and if in doubt, don't post it.",
    ),
    reason="You have not completed Social media basics yet.",
    courses=(
        Course("Social media basics", "https://learning.example.org/courses/smb"),
        Course("Posting for the organisation", "https://learning.example.org/courses/smp"),
    ),
    roles=("comms-publisher",),
    reference="1A2B3C4D",
)
CONTINUE = ContinueForm("/.well-known/leeway/continue", "token", "/feed")
ASK_URL = "https://leeway.internal/requests"
ASK = RequestForm(ASK_URL, "signed-token", "social", ("comms-publisher",))
LONG_HOST = "a-very-long-subdomain-name-that-does-not-fit.cdn.static.xx.fbcdn.net"
MAX_TABS = 12


@pytest.fixture(scope="module")
def a11y_proxy(module_proxies: Proxies) -> LeewayProcess:
    return module_proxies.start()


@pytest.fixture(scope="module")
def browser(
    tmp_path_factory: pytest.TempPathFactory, mitmproxy_ca: Path, a11y_proxy: LeewayProcess
) -> Iterator[Browser]:
    home = trusting_home(
        tmp_path_factory.mktemp("a11y-home"), mitmproxy_ca / "mitmproxy-ca-cert.pem"
    )
    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright, home, a11y_proxy.url)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context.new_page()
    context.close()


def focus_by_tab(page: Page, selector: str) -> None:
    """Press Tab until the element `selector` has the focus (fails after MAX_TABS), and
    check that the focus shows: an outline at least 2 px wide."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            outline = page.evaluate(
                "(() => { const s = getComputedStyle(document.activeElement);"
                " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
            )
            assert outline[0] != "none" and outline[1] >= 2, f"{selector}: outline {outline}"
            return
    focused = page.evaluate("document.activeElement.outerHTML")
    raise AssertionError(f"{MAX_TABS} Tabs did not reach {selector}; focus is on {focused}")


def with_brand(tmp_path: Path) -> Templates:
    directory = tmp_path / "brand"
    directory.mkdir()
    (directory / "brand.html").write_text("Ministry of Examples\n", encoding="utf-8")
    return Templates.load(directory)


# Each variant of the pages, rendered (with a directory for an operator's templates).
VARIANTS: dict[str, Callable[[Path], str]] = {
    "warn": lambda _: warn_page(FACTS, CONTINUE)[1],
    "warn-renewal": lambda _: warn_page(replace(FACTS, renewal=True), CONTINUE)[1],
    "warn-post": lambda _: warn_page(replace(FACTS, write=True), CONTINUE)[1],
    "warn-long-host": lambda _: warn_page(replace(FACTS, host=LONG_HOST), CONTINUE)[1],
    "block": lambda _: block_page(FACTS)[1],
    "block-nothing-helps": lambda _: block_page(
        replace(FACTS, courses=(), roles=(), reason="", reference="")
    )[1],
    "block-request-form": lambda _: block_page(FACTS, request_form=ASK)[1],
    "block-request-form-roles": lambda _: block_page(
        replace(FACTS, roles=("comms-publisher", "video-editor")),
        request_form=replace(
            ASK,
            roles=("comms-publisher", "video-editor"),
            justification="I post for the press office.",
            error="Say why you need it, in at most 500 characters.",
        ),
    )[1],
    "block-brand": lambda tmp: block_page(FACTS, templates=with_brand(tmp))[1],
}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_of_the_pages_passes_axe_at_both_widths(
    page: Page, name: str, tmp_path: Path
) -> None:
    page.set_content(VARIANTS[name](tmp_path))
    shots = check_page(page, f"rendered-{name}")
    assert [shot.stat().st_size > 0 for shot in shots] == [True, True]


def test_the_check_finds_what_is_wrong(page: Page) -> None:
    """The harness is not vacuous: low contrast, a missing label and a wide box all fail."""
    page.set_content(
        '<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
        '<p style="color:#bbb">faint</p><textarea></textarea>'
        '<div style="width:900px">wide</div></main></body></html>'
    )
    with pytest.raises(AssertionError) as failed:
        check_page(page, "harness-bad-page")
    message = str(failed.value)
    assert "color-contrast" in message and "label" in message
    assert "at 390 px scrolls sideways" in message
    assert "at 1280 px scrolls" not in message


def test_the_warning_page_of_the_proxy_then_continue_by_keyboard(
    page: Page, https_origin: Origin
) -> None:
    url = f"https://www.facebook.com:{https_origin.port}/feed?from=keyboard"
    first = page.goto(url)
    assert first is not None and first.status == 403
    assert page.title() == "Before you continue to www.facebook.com"
    check_page(page, "warn")
    focus_by_tab(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == url
    assert '"origin": true' in page.content()
    seen = https_origin.requests_for("www.facebook.com")
    assert seen and seen[0].path == "/feed?from=keyboard"


def test_the_block_page_of_the_proxy(page: Page, https_origin: Origin) -> None:
    action = f"https://www.facebook.com:{https_origin.port}/status"
    page.set_content(
        f'<!doctype html><html lang="en"><title>post</title><form method="post" action="{action}">'
        '<input name="status" value="hello"><button>Post</button></form></html>'
    )
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Post").click()
    response = navigation.value
    assert response is not None and response.status == 403
    assert page.title() == "Posting to www.facebook.com is blocked"
    assert "What would give you access" in page.content()
    assert https_origin.requests_for("www.facebook.com") == []
    check_page(page, "block")


@pytest.mark.parametrize(
    ("roles", "choose"),
    [
        pytest.param(("comms-publisher",), None, id="one role"),
        pytest.param(("comms-publisher", "video-editor"), "video-editor", id="a choice of roles"),
    ],
)
def test_the_request_form_by_keyboard(
    page: Page, roles: tuple[str, ...], choose: str | None
) -> None:
    posted: list[str] = []

    def answer(route: Route) -> None:
        posted.append(route.request.post_data or "")
        route.fulfill(status=200, content_type="text/html", body="<title>asked</title>")

    page.route(ASK_URL, answer)
    page.set_content(block_page(FACTS, request_form=replace(ASK, roles=roles))[1])
    if choose is not None:
        focus_by_tab(page, "input[type=radio]")
        # Arrow keys move through a radio group (Tab enters and leaves it once).
        for _ in range(roles.index(choose)):
            page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
    focus_by_tab(page, "textarea[name=justification]")
    page.keyboard.type("I post for the press office.")
    focus_by_tab(page, "button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.title() == "asked"
    (body,) = posted
    assert parse_qs(body) == {
        "token": ["signed-token"],
        "category": ["social"],
        "role": [choose or roles[0]],
        "justification": ["I post for the press office."],
    }


def test_the_request_form_needs_a_justification(page: Page) -> None:
    posted: list[str] = []

    def refuse(route: Route) -> None:
        posted.append(route.request.method)
        route.abort()

    page.route(ASK_URL, refuse)
    page.set_content(block_page(FACTS, request_form=ASK)[1])
    focus_by_tab(page, "button[type=submit]")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "justification"
    assert page.evaluate("document.querySelector('textarea').validity.valueMissing") is True
    assert posted == []
