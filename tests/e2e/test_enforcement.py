"""Every action for reads and writes, over HTTP and HTTPS, for each kind of user.

`alice` is untrained (social: read warn, write block), `trina` trained (read allow, write
warn: so her page loads get the notice once, DESIGN step 5) and `paul` a publisher
(everything allowed); an uncategorised host is untouched.
Users log in to the proxy (htpasswd). Also: the short 403 that replaces anything that is
not a page load. Reads that a method override header makes writes: the bypass table,
tests/e2e/bypass/test_overrides.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, client
from tests.e2e.conftest import PASSWORDS
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

IMAGE = {"Accept": "image/avif,image/webp,*/*", "Sec-Fetch-Mode": "no-cors"}
SOCIAL_WARN = "warn; reason=rule_matched; category=social"
SOCIAL_BLOCK = "block; reason=rule_matched; category=social"
SOCIAL_ALLOW = "allow; reason=rule_matched; category=social"
OVERRIDE = "X-HTTP-Method-Override"


@pytest.fixture
def proxy(auth_proxy: LeewayProcess) -> LeewayProcess:
    """Everybody logs in. `rita`'s training runs out in 5 days: she gets renewal notices."""
    return auth_proxy


@dataclass(frozen=True)
class Case:
    user: str
    method: str
    headers: dict[str, str]
    status: int
    decision: str | None  # the X-Leeway-Decision header; None: there is none
    says: str = ""  # text the answer must contain
    host: str = "www.facebook.com"
    body: bytes = field(default=b"")


CASES = [
    pytest.param(
        Case("alice", "GET", PAGE, 403, SOCIAL_WARN, "Before you continue to www.facebook.com"),
        id="untrained read page -> warning page",
    ),
    pytest.param(
        Case("alice", "GET", IMAGE, 403, SOCIAL_WARN, "shows a notice first"),
        id="untrained read image -> short 403",
    ),
    pytest.param(
        Case("alice", "HEAD", {}, 403, SOCIAL_WARN),
        id="untrained HEAD -> 403",
    ),
    pytest.param(
        Case("alice", "POST", PAGE, 403, SOCIAL_BLOCK, "Posting to www.facebook.com is blocked"),
        id="untrained write form -> block page",
    ),
    pytest.param(
        Case("alice", "POST", XHR, 403, SOCIAL_BLOCK, '"error": "leeway_block"'),
        id="untrained write xhr -> short 403",
    ),
    pytest.param(
        Case("trina", "GET", IMAGE, 200, None, '"origin": true'),
        id="trained read image -> origin",
    ),
    pytest.param(
        # DESIGN step 5: a page load gets the notice when the rule warns for write too.
        Case("trina", "GET", PAGE, 403, SOCIAL_ALLOW, "You can read social sites."),
        id="trained read page -> notice before posting",
    ),
    pytest.param(
        Case("trina", "GET", XHR, 200, None, '"origin": true', host="static.xx.fbcdn.net"),
        id="trained read xhr on cdn -> origin",
    ),
    pytest.param(
        Case("trina", "POST", PAGE, 403, SOCIAL_WARN, "Before you post to www.facebook.com"),
        id="trained write form -> warning page",
    ),
    pytest.param(
        Case("trina", "DELETE", XHR, 403, SOCIAL_WARN, '"error": "leeway_warn"'),
        id="trained write xhr -> short 403",
    ),
    pytest.param(
        Case("paul", "GET", PAGE, 200, None, '"origin": true'),
        id="publisher read -> origin",
    ),
    pytest.param(
        Case("paul", "POST", PAGE, 200, None, '"method": "POST"', body=b"status=hello"),
        id="publisher write -> origin",
    ),
    pytest.param(
        Case(
            "rita",
            "GET",
            PAGE,
            403,
            "warn; reason=training_expiring; category=social",
            "Renew your training to keep using www.facebook.com",
        ),
        id="training runs out soon, page -> renewal notice",
    ),
    pytest.param(
        Case("alice", "GET", PAGE, 200, None, '"origin": true', host="www.example.org"),
        id="uncategorised read -> origin",
    ),
    pytest.param(
        Case("alice", "POST", XHR, 200, None, '"method": "POST"', host="example.org", body=b"x"),
        id="uncategorised write -> origin",
    ),
]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("case", CASES)
def test_each_action(
    proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
    case: Case,
) -> None:
    origin = https_origin if scheme == "https" else http_origin
    url = f"{scheme}://{case.host}:{origin.port}/feed?page=2"
    with client(proxy, origin_certs.ca, user=case.user, password=PASSWORDS[case.user]) as http:
        answer = http.request(case.method, url, headers=case.headers, content=case.body)
    assert answer.status_code == case.status, answer.text
    assert answer.headers.get("x-leeway-decision") == case.decision
    assert case.says in answer.text
    seen = origin.requests_for(case.host)
    if case.status == 200:
        assert [(s.method, s.path) for s in seen] == [(case.method, "/feed?page=2")]
    else:
        assert seen == [], "a refused request reached the site"
        assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_allowed_override_reaches_the_site_with_its_header(
    proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
) -> None:
    """A site that honours the override must see it: it is decided on (trina may read but
    is warned before posting), not removed (paul may post)."""
    origin = https_origin if scheme == "https" else http_origin
    url = f"{scheme}://www.facebook.com:{origin.port}/feed"
    with client(proxy, origin_certs.ca, user="trina", password=PASSWORDS["trina"]) as http:
        warned = http.get(url, headers={**XHR, OVERRIDE: "POST"})
    assert (warned.status_code, warned.headers.get("x-leeway-decision")) == (403, SOCIAL_WARN)
    with client(proxy, origin_certs.ca, user="paul", password=PASSWORDS["paul"]) as http:
        answer = http.get(url, headers={**XHR, OVERRIDE: "POST"})
    assert answer.status_code == 200, answer.text
    [seen] = origin.requests_for("www.facebook.com")
    assert {k.lower(): v for k, v in seen.headers.items()}[OVERRIDE.lower()] == "POST"


NON_PAGE_ACCEPTS = [
    pytest.param({"Accept": "application/json"}, "json", id="json"),
    pytest.param({"Accept": "application/vnd.api+json, */*;q=0.1"}, "json", id="json suffix"),
    pytest.param({"Accept": "*/*"}, "text", id="anything"),
    pytest.param(IMAGE, "text", id="image"),
    pytest.param({"Accept": "text/css,*/*;q=0.1", "Sec-Fetch-Dest": "style"}, "text", id="css"),
    pytest.param(
        {"Accept": "text/html", "Sec-Fetch-Mode": "cors"}, "text", id="fetch accepting html"
    ),
    pytest.param(
        {"Accept": "text/html", "X-Requested-With": "XMLHttpRequest"}, "text", id="legacy xhr"
    ),
]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(("headers", "kind"), NON_PAGE_ACCEPTS)
def test_what_is_not_a_page_load_gets_a_short_403_never_html(
    proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
    headers: dict[str, str],
    kind: str,
) -> None:
    origin = https_origin if scheme == "https" else http_origin
    url = f"{scheme}://www.youtube.com:{origin.port}/api/stats?video=1"
    with client(proxy, origin_certs.ca, user="alice", password=PASSWORDS["alice"]) as http:
        answer = http.get(url, headers=headers)
    assert answer.status_code == 403
    assert answer.headers["x-leeway-decision"] == ("warn; reason=rule_matched; category=rich-media")
    ctype = answer.headers["content-type"]
    assert "html" not in ctype
    assert "<" not in answer.text
    if kind == "json":
        assert ctype == "application/json"
        document = json.loads(answer.text)
        assert document["error"] == "leeway_warn"
        assert (document["host"], document["category"]) == ("www.youtube.com", "rich-media")
    else:
        assert ctype == "text/plain; charset=utf-8"
        assert answer.text.startswith("Leeway: www.youtube.com (rich-media) shows a notice first")
        assert answer.text.count("\n") == 1
    assert origin.requests_for("www.youtube.com") == []


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    ("user", "status"), [("paul", 200), ("alice", 403)], ids=["allowed", "blocked"]
)
def test_a_large_upload_streams_to_the_site_or_never_reaches_it(
    proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
    user: str,
    status: int,
    sized: bool,
) -> None:
    """Bodies over 1 MB, or of unknown size, are streamed (video uploads): a refusal must
    still be answered, and an allowed upload must arrive whole."""
    origin = https_origin if scheme == "https" else http_origin
    url = f"{scheme}://www.facebook.com:{origin.port}/upload"
    body = b"v" * (3 * 1024 * 1024)
    content: bytes | Iterator[bytes] = body if sized else iter([body[:1000], body[1000:]])
    logged = len(proxy.log())
    with client(proxy, origin_certs.ca, user=user, password=PASSWORDS[user]) as http:
        answer = http.post(url, content=content, headers=XHR)
    assert "Traceback" not in proxy.log()[logged:], "the connection crashed"
    assert answer.status_code == status
    assert [s.body_length for s in origin.seen] == ([len(body)] if status == 200 else [])


@pytest.mark.parametrize("host", ["exa mple.org", "xn--", "example.org:99999"])
def test_a_request_for_a_malformed_host_gets_400(
    proxy: LeewayProcess, http_origin: Origin, host: str
) -> None:
    with client(proxy, user="alice", password=PASSWORDS["alice"]) as http:
        answer = http.get(
            f"http://www.example.org:{http_origin.port}/", headers={**XHR, "Host": host}
        )
    assert answer.status_code == 400
    assert answer.headers["x-leeway-decision"] == "block; reason=invalid_host"
    assert http_origin.seen == []
