"""The Continue button end to end: the form a browser reads, the post, the way back.

A valid Continue is recorded in the store, answers 303 to the page asked for on the same
host, and opens the whole category; a forged, expired or other user's token is refused,
and `next` never leads to another host. An unidentified client's Continue holds for its
own address only. Each test clicks as a user of its own: the proxies serve the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from addons import tokens
from proxy.store.db import make_engine
from proxy.store.keys import signing_key
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, ContinueForm, client, continue_form, curl_answer
from tests.e2e.conftest import PASSWORDS
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.e2e.records import acknowledgements_of

CONTINUE_PATH = "/.well-known/leeway/continue"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}


@pytest.fixture(scope="module")
def signing(shared_db_url: str, auth_proxy: LeewayProcess) -> bytes:
    """The proxies' token key, as every instance reads it from the store."""
    engine = make_engine(shared_db_url)
    try:
        return signing_key(engine)
    finally:
        engine.dispose()


def as_user(proxy: LeewayProcess, user: str, origin_certs: OriginCerts) -> httpx.Client:
    return client(proxy, origin_certs.ca, login=(user, PASSWORDS[user]))


def warned(http: httpx.Client, url: str) -> ContinueForm:
    """Load `url` as a page, expect the warning page, and read its Continue form."""
    page = http.get(url, headers=PAGE)
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    form = continue_form(page.text)
    assert (form.method, form.action) == ("POST", CONTINUE_PATH)
    return form


def post_continue(
    http: httpx.Client, site: str, form: ContinueForm, **changes: str
) -> httpx.Response:
    """Post the Continue form to its reserved path on `site`, as a browser would."""
    fields = {"token": form.token, "next": form.next, **changes}
    return http.post(f"{site}{form.action}", data=fields, headers=SAME_ORIGIN)


def flip(token: str, at: int = 5) -> str:
    """`token` with one character changed (in the signed body, so no bit goes unused)."""
    replacement = "A" if token[at] != "A" else "B"
    return token[:at] + replacement + token[at + 1 :]


@pytest.mark.parametrize(("scheme", "user"), [("https", "ann"), ("http", "bea")])
def test_continue_opens_the_category_and_goes_back_to_the_page(
    auth_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    shared_db_url: str,
    scheme: str,
    user: str,
) -> None:
    origin = https_origin if scheme == "https" else http_origin
    site = f"{scheme}://www.facebook.com:{origin.port}"
    with as_user(auth_proxy, user, origin_certs) as http:
        form = warned(http, f"{site}/groups/42?tab=about")
        assert form.next == "/groups/42?tab=about"
        done = post_continue(http, site, form)
        assert done.status_code == 303
        assert done.headers["location"] == "/groups/42?tab=about"
        page = http.get(f"{site}{done.headers['location']}", headers=PAGE)
        cdn = http.get(f"{scheme}://static.xx.fbcdn.net:{origin.port}/app.js", headers=XHR)
        posted = http.post(f"{site}/status", headers=XHR)
        other_category = http.get(f"{scheme}://www.youtube.com:{origin.port}/", headers=PAGE)
    assert page.status_code == 200
    assert cdn.status_code == 200
    assert posted.status_code == 403, "Continue lifts warnings, not blocks"
    assert posted.headers["x-leeway-decision"].startswith("block;")
    assert other_category.status_code == 403
    assert [s.path for s in origin.seen] == ["/groups/42?tab=about", "/app.js"]
    assert acknowledgements_of(shared_db_url, user) == ["social"]


def test_continue_over_http2(auth_proxy: LeewayProcess, https_origin: Origin) -> None:
    """The same click from an HTTP/2 client (curl), the protocol browsers use."""
    site = f"https://www.facebook.com:{https_origin.port}"
    common = (
        "--http2",
        "--proxy", auth_proxy.url,
        "--proxy-user", f"gus:{PASSWORDS['gus']}",
        "--cacert", str(auth_proxy.ca),
    )  # fmt: skip
    navigate = ("-H", f"Accept: {PAGE['Accept']}", "-H", "Sec-Fetch-Mode: navigate")
    page = curl_answer(*common, *navigate, f"{site}/events")
    assert (page.http_version, page.status) == ("2", 403)
    form = continue_form(page.text)
    done = curl_answer(
        *common,
        "--data-urlencode", f"token={form.token}",
        "--data-urlencode", f"next={form.next}",
        f"{site}{form.action}",
    )  # fmt: skip
    assert (done.status, done.headers["location"]) == (303, "/events")
    again = curl_answer(*common, *navigate, f"{site}/events")
    assert again.status == 200
    assert [s.path for s in https_origin.seen] == ["/events"]


def test_continue_covers_a_warned_write(
    auth_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    with as_user(auth_proxy, "tess", origin_certs) as http:
        notice = http.post(f"{site}/status", data={"text": "hello"}, headers=PAGE)
        assert "Before you post to www.facebook.com" in notice.text
        done = post_continue(http, site, continue_form(notice.text))
        assert (done.status_code, done.headers["location"]) == (303, "/status")
        again = http.post(f"{site}/status", data={"text": "hello"}, headers=PAGE)
    assert again.status_code == 200
    assert [(s.method, s.path) for s in https_origin.seen] == [("POST", "/status")]


def test_a_forged_token_is_refused(
    auth_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    with as_user(auth_proxy, "cal", origin_certs) as http:
        form = warned(http, f"{site}/")
        refused = post_continue(http, site, form, token=flip(form.token))
        truncated = post_continue(http, site, form, token=form.token[:-3])
        still = warned(http, f"{site}/")
    assert refused.status_code == 403
    assert "bad signature" in refused.text
    assert truncated.status_code == 403
    assert still.token != form.token
    assert https_origin.seen == []


def test_another_users_token_is_refused(
    auth_proxy: LeewayProcess,
    https_origin: Origin,
    origin_certs: OriginCerts,
    shared_db_url: str,
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    with as_user(auth_proxy, "alice", origin_certs) as alice:
        alices = warned(alice, f"{site}/")
    with as_user(auth_proxy, "trina", origin_certs) as trina:
        refused = post_continue(trina, site, alices)
        notice = trina.post(f"{site}/status", headers=PAGE)
    with as_user(auth_proxy, "alice", origin_certs) as alice:
        warned(alice, f"{site}/")
    assert refused.status_code == 403
    assert "token is for another user" in refused.text
    assert "Before you post to www.facebook.com" in notice.text
    assert acknowledgements_of(shared_db_url, "trina") == []
    assert acknowledgements_of(shared_db_url, "alice") == []
    assert https_origin.seen == []


def test_an_expired_token_is_refused(
    auth_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts, signing: bytes
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    old = tokens.issue(
        signing, principal="dan", category="social", now=an_hour_ago, lifetime=timedelta(minutes=30)
    )
    with as_user(auth_proxy, "dan", origin_certs) as http:
        form = warned(http, f"{site}/")
        refused = post_continue(http, site, form, token=old)
        warned(http, f"{site}/")
    assert refused.status_code == 403
    assert "token expired" in refused.text


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)", ""],
    ids=["absolute url", "scheme-relative", "backslash", "javascript", "empty"],
)
def test_continue_never_leads_to_another_host(
    auth_proxy: LeewayProcess,
    https_origin: Origin,
    origin_certs: OriginCerts,
    signing: bytes,
    target: str,
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    token = tokens.issue(signing, principal="eve", category="social", now=datetime.now(UTC))
    form = ContinueForm(CONTINUE_PATH, "POST", token, target)
    with as_user(auth_proxy, "eve", origin_certs) as http:
        done = post_continue(http, site, form)
    assert done.status_code == 303
    assert done.headers["location"] == "/"


def test_a_continue_must_come_from_the_warning_page(
    auth_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts, signing: bytes
) -> None:
    site = f"https://www.facebook.com:{https_origin.port}"
    token = tokens.issue(signing, principal="fay", category="social", now=datetime.now(UTC))
    form = ContinueForm(CONTINUE_PATH, "POST", token, "/")
    with as_user(auth_proxy, "fay", origin_certs) as http:
        fetched = http.get(f"{site}{CONTINUE_PATH}?token={token}&next=/")
        cross_site = http.post(
            f"{site}{CONTINUE_PATH}",
            data={"token": token, "next": "/"},
            headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
        )
        other_category = post_continue(http, f"https://www.youtube.com:{https_origin.port}", form)
        warned(http, f"{site}/")
    assert fetched.status_code == 405
    assert cross_site.status_code == 403
    assert other_category.status_code == 403
    assert "for another site" in other_category.text
    assert https_origin.seen == []


def test_an_unidentified_clients_continue_holds_for_its_address_only(
    open_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    site = f"https://www.youtube.com:{https_origin.port}"
    with client(open_proxy, origin_certs.ca, local_address="127.0.0.5") as here:
        form = warned(here, f"{site}/watch?v=1")
        done = post_continue(here, site, form)
        assert (done.status_code, done.headers["location"]) == (303, "/watch?v=1")
        page = here.get(f"{site}/watch?v=1", headers=PAGE)
    with client(open_proxy, origin_certs.ca, local_address="127.0.0.4") as elsewhere:
        other = elsewhere.get(f"{site}/watch?v=1", headers=PAGE)
        borrowed = post_continue(elsewhere, site, form)
    assert page.status_code == 200
    assert other.status_code == 403
    assert other.headers["x-leeway-decision"].startswith("warn;")
    assert borrowed.status_code == 403
    assert [s.path for s in https_origin.seen] == ["/watch?v=1"]


@pytest.mark.parametrize("sized", [True, False], ids=["content-length", "chunked"])
def test_a_large_post_to_the_continue_path_never_reaches_the_site(
    auth_proxy: LeewayProcess, https_origin: Origin, origin_certs: OriginCerts, sized: bool
) -> None:
    """The reserved path is the proxy's own on every site: a body large enough to be
    streamed (or of unknown size) must not stream past the proxy to the site."""
    body = b"token=" + b"x" * (3 * 1024 * 1024)
    content: bytes | Iterator[bytes] = body if sized else iter([body[:1000], body[1000:]])
    logged = len(auth_proxy.log())
    with as_user(auth_proxy, "alice", origin_certs) as http:
        answer = http.post(
            f"https://www.facebook.com:{https_origin.port}{CONTINUE_PATH}",
            content=content,
            headers={**SAME_ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
        )
    assert "Traceback" not in auth_proxy.log()[logged:], "the connection crashed"
    assert answer.status_code == 403
    assert "far too large" in answer.text
    assert https_origin.seen == []
