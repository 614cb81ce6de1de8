"""Tests for addons.pages: the warning page, the block page and short refusals."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from mitmproxy.http import Headers

from addons.pages import (
    BLOCK_HEADERS,
    DEFAULT_PORTAL_URL,
    WARN_HEADERS,
    ContinueForm,
    Course,
    PageFacts,
    block_page,
    is_page_load,
    safe_next,
    short_refusal,
    warn_page,
)

if TYPE_CHECKING:
    from pathlib import Path

COURSE = Course("Social media basics", "https://learning.example.org/courses/smb")
FACTS = PageFacts(
    host="www.facebook.com",
    category="social",
    guidance=("You represent the organisation online as well as off.", "If in doubt, don't."),
    reason="You have not completed Social media basics yet.",
    courses=(COURSE,),
    reference="ABC123",
)
FORM = ContinueForm("/.well-known/leeway/continue", "tok.en-_", "/some/page?x=1&y=2")
SCRIPT = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects what the tests look at: title, h1, links, form inputs, button texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = self.h1 = ""
        self.links: list[str] = []
        self.forms: list[dict[str, str | None]] = []
        self.inputs: dict[str, str | None] = {}
        self.buttons: list[str] = []
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("title", "h1", "button"):
            self._in = tag
            if tag == "button":
                self.buttons.append("")
        elif tag == "a":
            self.links.append(found.get("href") or "")
        elif tag == "form":
            self.forms.append(found)
        elif tag == "input" and found.get("type") == "hidden":
            self.inputs[found.get("name") or ""] = found.get("value")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data
        elif self._in == "button":
            self.buttons[-1] += data


def _text(markup: str) -> str:
    """What a reader sees, tags dropped and entities resolved."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def test_warn_page_title_heading_and_status() -> None:
    status, markup = warn_page(FACTS, FORM)
    page = _Page(markup)
    assert status == 403
    assert page.title == page.h1 == "Before you continue to www.facebook.com"
    assert '<html lang="en">' in markup
    assert '<meta charset="utf-8">' in markup
    assert '<meta name="viewport"' in markup


def test_warn_page_shows_category_guidance_reason_and_course() -> None:
    _, markup = warn_page(FACTS, FORM)
    text = _text(markup)
    assert "social category" in text
    assert "You represent the organisation online as well as off." in text
    assert "If in doubt, don't." in text
    assert FACTS.reason in text
    assert _Page(markup).links == [COURSE.url, DEFAULT_PORTAL_URL]


def test_warn_page_form_posts_token_and_next() -> None:
    page = _Page(warn_page(FACTS, FORM)[1])
    assert page.forms == [{"method": "post", "action": "/.well-known/leeway/continue"}]
    assert page.inputs == {"token": "tok.en-_", "next": "/some/page?x=1&y=2"}
    assert page.buttons == ["Continue to www.facebook.com"]


@pytest.mark.parametrize(
    "next_",
    [
        pytest.param("https://evil.example/", id="absolute URL"),
        pytest.param("//evil.example/", id="scheme-relative"),
        pytest.param("/\\evil.example", id="backslash"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("/a\nb", id="newline"),
        pytest.param("", id="empty"),
    ],
)
def test_next_outside_this_host_becomes_root(next_: str) -> None:
    assert safe_next(next_) == "/"
    page = _Page(warn_page(FACTS, replace(FORM, next=next_))[1])
    assert page.inputs["next"] == "/"


def test_renewal_wording() -> None:
    facts = replace(
        FACTS,
        renewal=True,
        reason="Your Social media basics training runs out on 2026-12-01 — renew it to keep "
        "access.",
    )
    status, markup = warn_page(facts, FORM)
    page = _Page(markup)
    assert status == 403
    assert page.title == page.h1 == "Renew your training to keep using www.facebook.com"
    assert "runs out on 2026-12-01 — renew it" in markup
    assert "Renew your training" in _text(markup)
    assert page.buttons == ["Continue to www.facebook.com"]


def test_warn_page_for_a_write_says_so() -> None:
    _, markup = warn_page(replace(FACTS, write=True), FORM)
    assert _Page(markup).title == "Before you post to www.facebook.com"
    assert "send it again" in markup


@pytest.mark.parametrize(
    ("write", "title"),
    [
        pytest.param(False, "Access to www.facebook.com is blocked", id="read"),
        pytest.param(True, "Posting to www.facebook.com is blocked", id="write"),
    ],
)
def test_block_page_title_heading_and_status(write: bool, title: str) -> None:
    status, markup = block_page(replace(FACTS, write=write))
    page = _Page(markup)
    assert status == 403
    assert page.title == page.h1 == title
    assert page.forms == []
    assert page.buttons == []


def test_block_page_shows_courses_roles_and_reference() -> None:
    second = Course("Publishing for the organisation", "https://learning.example.org/pub")
    facts = replace(FACTS, courses=(COURSE, second), roles=("comms-publisher",))
    _, markup = block_page(facts)
    text = _text(markup)
    assert _Page(markup).links == [COURSE.url, second.url, DEFAULT_PORTAL_URL]
    assert "Ask your manager for the comms-publisher role." in text
    assert "quote reference ABC123 to the help desk" in text
    assert FACTS.reason in text
    assert "social category" in text


def test_block_page_with_nothing_that_gives_access() -> None:
    _, markup = block_page(replace(FACTS, courses=(), roles=(), reference=""))
    text = _text(markup)
    assert "No course or role gives access" in text
    assert "contact the help desk" in text


def test_only_web_links_become_links() -> None:
    facts = replace(FACTS, courses=(Course("Sneaky", "javascript:alert(1)"),))
    for markup in (warn_page(facts, FORM)[1], block_page(facts)[1]):
        assert _Page(markup).links == [DEFAULT_PORTAL_URL]
        assert "Sneaky" in markup
        assert "javascript:" not in markup


def test_every_value_is_escaped() -> None:
    facts = PageFacts(
        host=SCRIPT,
        category=SCRIPT,
        guidance=(SCRIPT,),
        reason=SCRIPT,
        courses=(Course(SCRIPT, 'https://x.example/"><script>'),),
        roles=(SCRIPT,),
        reference=SCRIPT,
        write=True,
    )
    form = ContinueForm(f'/c"{SCRIPT}', f'"{SCRIPT}', f'/n"{SCRIPT}')
    for markup in (warn_page(facts, form)[1], block_page(facts)[1]):
        assert "<script" not in markup
        assert "&lt;script&gt;" in markup
        page = _Page(markup)
        assert page.title == page.h1
        assert SCRIPT in page.title


def test_pages_are_self_contained(tmp_path: Path) -> None:
    facts = replace(FACTS, roles=("comms-publisher",))
    pages = {
        "warn.html": warn_page(facts, FORM)[1],
        "renewal.html": warn_page(replace(facts, renewal=True), FORM)[1],
        "block.html": block_page(facts)[1],
    }
    for name, markup in pages.items():
        path = tmp_path / name
        path.write_text(markup, encoding="utf-8")
        saved = path.read_bytes().decode("utf-8")
        without_links = saved.replace(COURSE.url, "").replace(DEFAULT_PORTAL_URL, "")
        assert "http" not in without_links.lower(), name
        assert "<script" not in saved and "src=" not in saved, name
        assert "@import" not in saved and "url(" not in saved, name


def test_suggested_headers() -> None:
    warn, block = dict(WARN_HEADERS), dict(BLOCK_HEADERS)
    assert warn["Cache-Control"] == block["Cache-Control"] == "no-store"
    assert warn["Content-Type"] == "text/html; charset=utf-8"
    assert "frame-ancestors 'none'" in warn["Content-Security-Policy"]
    assert "form-action 'self'" in warn["Content-Security-Policy"]


@pytest.mark.parametrize(
    "accept",
    [
        pytest.param("application/json", id="json"),
        pytest.param("application/json, text/plain, */*", id="axios default"),
        pytest.param("application/problem+json", id="+json"),
        pytest.param("Application/JSON", id="upper case"),
    ],
)
def test_refusal_as_json(accept: str) -> None:
    status, body, content_type = short_refusal(FACTS, action="warn", accept=accept)
    assert status == 403
    assert content_type == "application/json"
    assert json.loads(body) == {
        "error": "leeway_warn",
        "action": "warn",
        "host": "www.facebook.com",
        "category": "social",
        "reason": FACTS.reason,
        "reference": "ABC123",
    }


@pytest.mark.parametrize(
    ("action", "write", "expected"),
    [
        pytest.param("warn", False, "shows a notice first", id="warn"),
        pytest.param("block", False, "Access to www.facebook.com (social) is blocked", id="block"),
        pytest.param("block", True, "Posting to www.facebook.com (social) is blocked", id="post"),
    ],
)
def test_refusal_as_text(action: str, write: bool, expected: str) -> None:
    facts = replace(FACTS, write=write, reason="Not\ntrained.")
    status, body, content_type = short_refusal(facts, action=action, accept="image/avif,*/*")
    assert status == 403
    assert content_type == "text/plain; charset=utf-8"
    text = body.decode("utf-8")
    assert text.endswith("\n") and text.count("\n") == 1
    assert expected in text
    assert "Not trained." in text and "Reference: ABC123." in text
    assert "<" not in text


def test_refusal_needs_a_known_action() -> None:
    with pytest.raises(ValueError, match="'allow'"):
        short_refusal(FACTS, action="allow", accept="*/*")


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document"}


@pytest.mark.parametrize(
    ("method", "headers", "expected"),
    [
        pytest.param("GET", {**NAVIGATE, "accept": BROWSER_ACCEPT}, True, id="browser navigation"),
        pytest.param(
            "GET",
            {"sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe", "accept": BROWSER_ACCEPT},
            True,
            id="iframe navigation",
        ),
        pytest.param("get", NAVIGATE, True, id="lower-case method"),
        pytest.param("POST", {**NAVIGATE, "accept": BROWSER_ACCEPT}, True, id="form POST"),
        pytest.param("GET", {"accept": BROWSER_ACCEPT}, True, id="old client with HTML accept"),
        pytest.param("GET", {"accept": "TEXT/HTML"}, True, id="accept in upper case"),
        pytest.param(
            "GET",
            {"sec-fetch-mode": "no-cors", "sec-fetch-dest": "image", "accept": "image/*"},
            False,
            id="image",
        ),
        pytest.param(
            "GET",
            {"sec-fetch-mode": "cors", "sec-fetch-dest": "empty", "accept": "text/html"},
            False,
            id="fetch with HTML accept",
        ),
        pytest.param(
            "GET",
            {"sec-fetch-mode": "same-origin", "accept": "text/html"},
            False,
            id="same-origin fetch with HTML accept",
        ),
        pytest.param(
            "GET",
            {"x-requested-with": "XMLHttpRequest", "accept": "text/html, */*"},
            False,
            id="XHR with HTML accept",
        ),
        pytest.param(
            "GET", {**NAVIGATE, "x-requested-with": "XMLHttpRequest"}, False, id="XHR header wins"
        ),
        pytest.param("GET", {"accept": "*/*"}, False, id="curl */*"),
        pytest.param("GET", {}, False, id="no headers"),
        pytest.param("POST", {"accept": "text/html"}, False, id="POST without fetch metadata"),
        pytest.param("HEAD", NAVIGATE, False, id="HEAD"),
        pytest.param("PUT", NAVIGATE, False, id="PUT"),
    ],
)
def test_is_page_load(method: str, headers: dict[str, str], expected: bool) -> None:
    assert is_page_load(method, headers) is expected


def test_is_page_load_with_mitmproxy_headers() -> None:
    """The caller passes mitmproxy's Headers, whose names are case-insensitive."""
    navigation = Headers([(b"Sec-Fetch-Mode", b"navigate"), (b"Accept", b"text/html")])
    fetch = Headers([(b"Sec-Fetch-Mode", b"cors"), (b"Accept", b"text/html")])
    assert is_page_load("GET", navigation)
    assert not is_page_load("GET", fetch)
