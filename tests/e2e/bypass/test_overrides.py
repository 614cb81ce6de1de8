"""Class 3 of issue 9: a read method made to say "write" by a header many frameworks honour.

`alice` is untrained (social: read warn, write block): an override must turn her warning
into a block. `trina` may read social sites but is warned before posting: an override the
proxy misses would reach the site, which the recording origin would show. Over HTTP and
inside a CONNECT alike. Add a technique as one more row.
"""

from __future__ import annotations

import pytest

from tests.e2e.bypass.conftest import Attack
from tests.e2e.bypass.technique import Technique, check

FACEBOOK = "www.facebook.com"
XHR = "Accept: application/json\r\nSec-Fetch-Mode: cors\r\n"
PAGE = "Accept: text/html,application/xhtml+xml\r\nSec-Fetch-Mode: navigate\r\n"
BLOCK = "block; reason=rule_matched; category=social"
WARN = "warn; reason=rule_matched; category=social"


def plain(method: str, headers: str, user: str = "trina") -> Technique:
    """`method` to facebook over plain HTTP, as `user`, with extra header lines."""
    request = (
        f"{method} http://{FACEBOOK}:{{port}}/feed HTTP/1.1\r\nHost: {FACEBOOK}:{{port}}\r\n"
        f"{{auth}}{headers}Connection: close\r\n\r\n"
    )
    return Technique(request, 403, user=user)


def tunnelled(method: str, headers: str, user: str = "trina") -> Technique:
    """The same, inside a CONNECT to facebook (origin-form, as a browser sends it)."""
    request = f"{method} /feed HTTP/1.1\r\nHost: {FACEBOOK}:{{port}}\r\n"
    request += f"{headers}Connection: close\r\n\r\n"
    return Technique(request, 403, connect=f"{FACEBOOK}:{{port}}", user=user)


def says(row: Technique, text: str) -> Technique:
    """`row`, refused as test_enforcement's table refuses: decided `block`, never cached."""
    texts = (text, f"X-Leeway-Decision: {BLOCK}\r\n", "Cache-Control: no-store\r\n")
    return Technique(row.request, row.answer, row.reaches, texts, row.connect, row.user)


OVERRIDE = "X-HTTP-Method-Override: POST\r\n"

TECHNIQUES = [
    # Moved from test_enforcement's table: alice's warning becomes a block.
    pytest.param(says(plain("GET", XHR + OVERRIDE, "alice"), '"leeway_block"'), id="xhr"),
    pytest.param(says(tunnelled("GET", XHR + OVERRIDE, "alice"), '"leeway_block"'), id="xhr tls"),
    pytest.param(says(plain("GET", PAGE + OVERRIDE, "alice"), "Posting to"), id="page"),
    pytest.param(says(tunnelled("GET", PAGE + OVERRIDE, "alice"), "Posting to"), id="page tls"),
    # Spellings of the header and of its value.
    pytest.param(plain("GET", XHR + OVERRIDE), id="trina: as documented"),
    pytest.param(plain("GET", XHR + "x-http-method-override: post\r\n"), id="lower case"),
    pytest.param(plain("GET", XHR + "X-HTTP-METHOD-OVERRIDE: Post\r\n"), id="upper case"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method-Override:   POST  \r\n"), id="spaces"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method-Override:\tPOST\t\r\n"), id="tabs"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method-Override: GET, POST\r\n"), id="comma list"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method-Override: patch\r\n"), id="patch"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method-Override: PURGE\r\n"), id="unknown verb"),
    pytest.param(plain("GET", XHR + "X-HTTP-Method: PUT\r\n"), id="X-HTTP-Method"),
    pytest.param(plain("GET", XHR + "X-Method-Override: DELETE\r\n"), id="X-Method-Override"),
    pytest.param(tunnelled("GET", XHR + "x-method-override: delete\r\n"), id="lower case tls"),
    # Two headers: a proxy that reads only the first (or last) one is fooled.
    pytest.param(
        plain("GET", XHR + "X-HTTP-Method-Override: GET\r\n" + OVERRIDE), id="two, write last"
    ),
    pytest.param(
        plain("GET", XHR + OVERRIDE + "X-HTTP-Method-Override: GET\r\n"), id="two, write first"
    ),
    pytest.param(plain("GET", XHR + "X-HTTP-Method: GET\r\n" + OVERRIDE), id="two names"),
    # The other read methods carry it too.
    pytest.param(plain("HEAD", XHR + OVERRIDE), id="HEAD"),
    pytest.param(plain("OPTIONS", XHR + OVERRIDE), id="OPTIONS"),
    pytest.param(tunnelled("HEAD", XHR + OVERRIDE), id="HEAD tls"),
    # A lower-case method: servers that compare without case take it as a post.
    pytest.param(plain("post", XHR + "Content-Length: 0\r\n"), id="method in lower case"),
    # What stays open: trina reads, with or without a header naming a read.
    pytest.param(
        Technique(plain("GET", XHR).request, 200, ("GET www.facebook.com",), user="trina"),
        id="trina reads",
    ),
    pytest.param(
        Technique(
            plain("GET", XHR + "X-HTTP-Method-Override: GET\r\n").request,
            200,
            ("GET www.facebook.com",),
            user="trina",
        ),
        id="override naming a read",
    ),
]


@pytest.mark.parametrize("row", TECHNIQUES)
def test_technique(attack: Attack, row: Technique) -> None:
    check(attack(row), row)
