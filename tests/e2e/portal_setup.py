"""What the access page's end-to-end tests share: a policy whose block page names a role,
a store with people in it, and `leeway requests` run as an operator runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from tests.e2e.proxy_process import clean_environment

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "leeway.internal"
# Untrained people are blocked on social sites, and the nearest rule that would open them
# needs a role: the block page offers to ask for it.
POLICY = """
[settings]
acknowledgement_ttl = "8h"
renewal_notice = "14d"

[modules.social-media-basics]
title = "Social media basics"
url = "https://learning.example.org/courses/social-media-basics"
valid_for = "365d"

[categories.social]
domains = ["facebook.com", "fbcdn.net", "x.com"]
guidance = ["You represent the organisation online as well as off."]

[categories.rich-media]
domains = ["youtube.com", "ytimg.com"]

[[rules]]
name = "social-publishers"
categories = ["social"]
roles_any = ["comms-publisher"]
read = "allow"

[[rules]]
name = "social-trained"
categories = ["social"]
training_all = ["social-media-basics"]
read = "allow"
write = "block"

[[rules]]
name = "social-everyone"
categories = ["social"]
read = "block"

[[rules]]
name = "rich-media-everyone"
categories = ["rich-media"]
read = "warn"
write = "block"
"""
# alice, bea, cal, dan: untrained; trina: trained (all in tests.e2e.conftest.PASSWORDS).
PEOPLE = [
    ["users", "add", "alice", "--department", "Finance"],
    ["users", "add", "bea"],
    ["users", "add", "cal"],
    ["users", "add", "dan"],
    ["users", "add", "trina", "--department", "Policy"],
    ["training", "record", "trina", "social-media-basics"],
]


def leeway_command(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`leeway ARGS` as an operator runs it: a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args, "--db-url", db_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={**clean_environment(), "LEEWAY_OPERATOR": "it-desk"},
    )


class _Forms(HTMLParser):
    """The fields of the request form on a page, as a browser would send them."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and values.get("action", "").endswith("/requests"):
            self.action = values["action"]
        elif tag == "input" and values.get("type") == "hidden" and self.action:
            self.fields[values["name"]] = values.get("value", "")


def request_form(html: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's form to ask for access."""
    parser = _Forms()
    parser.feed(html)
    assert parser.action, "the page has no form to ask for access"
    return parser.action, parser.fields


def request_id(location: str) -> int:
    found = re.fullmatch(r"/requests/(\d+)\?asked=(new|again)", location)
    assert found is not None, location
    return int(found.group(1))
