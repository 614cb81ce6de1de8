"""Users identified each of the three ways, and identity never forwarded to a site.

Proxy authentication (htpasswd) over plain HTTP and inside CONNECT tunnels, with httpx and
curl; a trusted header believed from 127.0.0.2 only, and removed from everyone; the client
address map (127.0.0.3 is trina's). Whose request it was shows in what it is allowed:
only `paul` may post to social sites, and `trina` may read them.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import XHR, client, curl
from tests.e2e.conftest import PASSWORDS, TRINAS_ADDRESS, TRUSTED_HEADER, TRUSTED_PEER
from tests.e2e.origin import Origin, Seen
from tests.e2e.proxy_process import LeewayProcess

HEADER = TRUSTED_HEADER
IDENTITY_HEADERS = {"proxy-authorization", HEADER.lower()}


@pytest.fixture
def header_proxy(open_proxy: LeewayProcess) -> LeewayProcess:
    """Believes HEADER from 127.0.0.2 only; 127.0.0.3 is trina's in the address map."""
    return open_proxy


def origin_for(scheme: str, http_origin: Origin, https_origin: Origin) -> Origin:
    return https_origin if scheme == "https" else http_origin


def identity_headers_seen(seen: list[Seen]) -> set[str]:
    return {name.lower() for s in seen for name in s.headers} & IDENTITY_HEADERS


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    ("user", "status"), [("paul", 200), ("alice", 403)], ids=["publisher", "untrained"]
)
def test_proxy_authentication_identifies_with_httpx(
    auth_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
    user: str,
    status: int,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    with client(auth_proxy, origin_certs.ca, login=(user, PASSWORDS[user])) as http:
        headers = dict(XHR)
        if scheme == "https":
            # Some clients repeat the credentials inside the tunnel: they must not leak.
            headers["Proxy-Authorization"] = "Basic c2VjcmV0OnNlY3JldA=="
        posted = http.post(f"{scheme}://www.facebook.com:{origin.port}/status", headers=headers)
        plain = http.get(f"{scheme}://www.example.org:{origin.port}/", headers=XHR)
    assert posted.status_code == status
    assert plain.status_code == 200
    if status == 403:
        assert posted.headers["x-leeway-decision"].startswith("block;")
    assert len(origin.seen) == (2 if status == 200 else 1)
    assert identity_headers_seen(origin.seen) == set()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_proxy_authentication_identifies_with_curl(
    auth_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    scheme: str,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    done = curl(
        "--proxy", auth_proxy.url,
        "--proxy-user", f"paul:{PASSWORDS['paul']}",
        "--cacert", str(auth_proxy.ca),
        "--header", "Accept: application/json",
        "--data", "status=hello",
        "--write-out", "\n%{http_code}",
        f"{scheme}://www.facebook.com:{origin.port}/status",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "200"
    assert [(s.method, s.path) for s in origin.seen] == [("POST", "/status")]
    assert identity_headers_seen(origin.seen) == set()


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize(
    "login", [None, ("paul", "wrong-password")], ids=["no credentials", "wrong password"]
)
def test_proxy_authentication_is_required(
    auth_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    scheme: str,
    login: tuple[str, str] | None,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    with client(auth_proxy, login=login) as http:
        if scheme == "http":
            answer = http.get(f"http://www.example.org:{origin.port}/")
            assert answer.status_code == 407
        else:
            with pytest.raises(httpx.ProxyError, match="407"):
                http.get(f"https://www.example.org:{origin.port}/")
    assert origin.seen == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_trusted_header_is_believed_from_a_trusted_peer(
    header_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    with client(header_proxy, origin_certs.ca, local_address=TRUSTED_PEER) as http:
        answer = http.post(
            f"{scheme}://www.facebook.com:{origin.port}/status", headers={**XHR, HEADER: "paul"}
        )
    assert answer.status_code == 200, answer.headers.get("x-leeway-decision")
    assert [(s.method, s.path) for s in origin.seen] == [("POST", "/status")]
    assert identity_headers_seen(origin.seen) == set()


def test_trusted_header_on_the_connect_holds_for_the_tunnel(
    header_proxy: LeewayProcess, https_origin: Origin
) -> None:
    """An upstream proxy that adds the header to the CONNECT only, as curl does here."""
    done = curl(
        "--proxy", header_proxy.url,
        "--interface", TRUSTED_PEER,
        "--proxy-header", f"{HEADER}: paul",
        "--cacert", str(header_proxy.ca),
        "--header", "Accept: application/json",
        "--data", "status=hello",
        "--write-out", "\n%{http_code}",
        f"https://www.facebook.com:{https_origin.port}/status",
        f"https://www.facebook.com:{https_origin.port}/status2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "200"
    assert [s.path for s in https_origin.seen] == ["/status", "/status2"]
    assert identity_headers_seen(https_origin.seen) == set()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_trusted_header_is_ignored_and_removed_from_anyone_else(
    header_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    with client(header_proxy, origin_certs.ca, local_address="127.0.0.1") as http:
        posted = http.post(
            f"{scheme}://www.facebook.com:{origin.port}/status", headers={**XHR, HEADER: "paul"}
        )
        # Passed on to a site (the proxy sees inside plain HTTP only), but without it.
        # Credentials, too, though this proxy asks for none.
        plain = http.get(
            f"http://www.example.org:{http_origin.port}/",
            headers={HEADER: "paul", "Proxy-Authorization": "Basic cGF1bDpwYXVs"},
        )
    assert posted.status_code == 403
    assert posted.headers["x-leeway-decision"] == "block; reason=rule_matched; category=social"
    assert plain.status_code == 200
    assert origin.requests_for("www.facebook.com") == []
    assert identity_headers_seen(http_origin.seen) == set()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_client_address_map_identifies(
    header_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
    origin_certs: OriginCerts,
    scheme: str,
) -> None:
    origin = origin_for(scheme, http_origin, https_origin)
    url = f"{scheme}://www.facebook.com:{origin.port}/feed"
    with client(header_proxy, origin_certs.ca, local_address=TRINAS_ADDRESS) as trina:
        # Not a trusted peer: the header is no way to become paul, and is removed.
        read = trina.get(url, headers={**XHR, HEADER: "paul"})
        write = trina.post(url, headers={**XHR, HEADER: "paul"})
    with client(header_proxy, origin_certs.ca, local_address="127.0.0.1") as somebody:
        unknown = somebody.get(url, headers=XHR)
    assert read.status_code == 200
    assert write.status_code == 403
    assert write.headers["x-leeway-decision"] == "warn; reason=rule_matched; category=social"
    assert unknown.status_code == 403
    assert unknown.headers["x-leeway-decision"] == "warn; reason=rule_matched; category=social"
    assert [(s.method, s.path) for s in origin.seen] == [("GET", "/feed")]
    assert identity_headers_seen(origin.seen) == set()
