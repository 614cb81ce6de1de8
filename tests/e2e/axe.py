"""Accessibility checks and screenshots of a page in the real browser, for every page test.

axe-core (npm, installed by .ci/run into ~/.cache/leeway-test/axe; `LEEWAY_TEST_AXE_DIR`
names another directory) is evaluated in the page through the DevTools protocol, which the
page's Content-Security-Policy does not restrict, so the page is checked under its own
CSP. Screenshots go to `LEEWAY_TEST_ARTEFACTS` (default `artefacts/` in the checkout),
named by page and width:

    check_page(page, "block-request-form")   # axe at 1280 and 390 px, screenshots, reflow
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (1280, 390)
HEIGHT = 800
# WCAG 2.1 level A and AA, as axe-core tags its rules.
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")

type Violation = dict[str, Any]


def axe_script() -> Path:
    """axe.min.js; the test is skipped without it (fails on CI, which installs it)."""
    default = Path.home() / ".cache" / "leeway-test" / "axe"
    directory = Path(os.environ.get("LEEWAY_TEST_AXE_DIR") or default)
    script = directory / "node_modules" / "axe-core" / "axe.min.js"
    if not script.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{script} missing: .ci/run installs axe-core from npm")
        pytest.skip(f"axe-core not installed ({script}): npm install --prefix {directory} axe-core")
    return script


def artefacts() -> Path:
    directory = Path(os.environ.get("LEEWAY_TEST_ARTEFACTS") or ROOT / "artefacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def axe_violations(page: Page) -> list[Violation]:
    """The WCAG 2.1 A and AA violations axe-core finds in the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_script().read_text(encoding="utf-8"))
    found: list[Violation] = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations",
        list(WCAG_21_AA),
    )
    return found


def describe(violations: list[Violation]) -> str:
    """One line per violation and the elements it concerns, for an assertion message."""
    lines = []
    for violation in violations:
        targets = ", ".join(str(node.get("target")) for node in violation.get("nodes", []))
        lines.append(
            f"{violation['id']} ({violation.get('impact')}): {violation['help']}: {targets}"
        )
    return "\n".join(lines)


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0: no horizontal scrolling)."""
    overflow: int = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow


def screenshot(page: Page, name: str, width: int) -> Path:
    """A full-page screenshot `NAME-WIDTH.png` in the artefacts directory."""
    path = artefacts() / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def check_page(page: Page, name: str) -> list[Path]:
    """At each width: no axe violation, no horizontal scrolling, a screenshot. The
    screenshots are taken first, so that a failing page can be looked at."""
    shots, problems = [], []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        shots.append(screenshot(page, name, width))
        if violations := axe_violations(page):
            problems.append(f"{name} at {width} px:\n{describe(violations)}")
        if (overflow := horizontal_overflow(page)) > 0:
            problems.append(f"{name} at {width} px scrolls sideways by {overflow} px")
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    assert not problems, "\n".join(problems)
    return shots
