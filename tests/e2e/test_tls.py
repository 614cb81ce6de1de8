"""Which TLS connections are opened up: only categorised ones, and none with --no-intercept.

The test speaks CONNECT over a bare socket and shakes hands itself, so it sees which
certificate the proxy shows: the origin's own (issued by "Leeway test origin CA") when
the connection is passed through, mitmproxy's when it is intercepted.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from cryptography import x509

from policy import default_policy_path
from tests.e2e.clients import (
    basic_auth,
    client,
    connect,
    curl,
    issuer_name,
    peer_certificate,
    subject_name,
)
from tests.e2e.conftest import PASSWORDS, Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import ORIGIN_ADDRESS, LeewayProcess
from tests.e2e.raw_site import refused

ORIGIN_CA = "Leeway test origin CA"


@pytest.fixture
def proxy(open_proxy: LeewayProcess) -> LeewayProcess:
    """Intercepting, without a login."""
    return open_proxy


@pytest.fixture(scope="module")
def no_intercept(
    module_proxies: Proxies, htpasswd: Path, tmp_path_factory: pytest.TempPathFactory
) -> LeewayProcess:
    """Decides at CONNECT; its policy blocks reading rich media for the untrained (the
    bundled one warns, and a warn becomes a block here by default)."""
    policy = tmp_path_factory.mktemp("policy") / "policy.toml"
    default = default_policy_path().read_text()
    stricter = default.replace(
        'categories = ["rich-media"]\nread = "warn"', 'categories = ["rich-media"]\nread = "block"'
    )
    assert stricter != default
    policy.write_text(stricter)
    return module_proxies.start(
        "--no-intercept", "--proxyauth", f"@{htpasswd}", "--policy", str(policy)
    )


@pytest.fixture(scope="module")
def no_intercept_eager(module_proxies: Proxies, htpasswd: Path) -> LeewayProcess:
    """Without interception, connecting to the server at CONNECT, before any handshake."""
    return module_proxies.start(
        "--no-intercept", "--proxyauth", f"@{htpasswd}", "--set", "connection_strategy=eager"
    )


@pytest.fixture(scope="module")
def socks_no_intercept(module_proxies: Proxies) -> LeewayProcess:
    """A SOCKS5 proxy without interception: no CONNECT, so the handshake decides."""
    return module_proxies.start("--no-intercept", "--set", "mode=socks5")


def mitmproxy_ca_name(proxy: LeewayProcess) -> str:
    return subject_name(x509.load_pem_x509_certificate(proxy.ca.read_bytes()))


@pytest.mark.parametrize("host", ["www.example.org", "example.org"])
def test_uncategorised_tls_is_passed_through(
    proxy: LeewayProcess, https_origin: Origin, host: str
) -> None:
    tunnel = connect(proxy, f"{host}:{https_origin.port}")
    assert tunnel.status == 200
    certificate = peer_certificate(tunnel, host)
    assert issuer_name(certificate) == ORIGIN_CA


@pytest.mark.parametrize(
    ("target", "sni"),
    [
        ("www.facebook.com", "www.facebook.com"),
        ("i.ytimg.com", "i.ytimg.com"),
        # A tunnel to an address that names a categorised site in its handshake.
        (ORIGIN_ADDRESS, "x.com"),
        # And a categorised tunnel whose handshake names an uncategorised site.
        ("x.com", "www.example.org"),
    ],
    ids=["social", "rich-media", "categorised sni", "categorised connect"],
)
def test_categorised_tls_is_intercepted(
    proxy: LeewayProcess, https_origin: Origin, target: str, sni: str
) -> None:
    tunnel = connect(proxy, f"{target}:{https_origin.port}")
    assert tunnel.status == 200
    certificate = peer_certificate(tunnel, sni)
    assert issuer_name(certificate) == mitmproxy_ca_name(proxy)
    assert issuer_name(certificate) != ORIGIN_CA


@pytest.mark.parametrize(
    ("user", "host", "decision"),
    [
        ("alice", "www.youtube.com", "block; reason=rule_matched; category=rich-media"),
        ("alice", "www.facebook.com", "warn; reason=rule_matched; category=social"),
        ("trina", "i.ytimg.com", "block; reason=rule_matched; category=rich-media"),
    ],
    ids=["untrained rich-media (block)", "untrained social (warn)", "trained social, rich-media"],
)
def test_no_intercept_refuses_at_connect(
    no_intercept: LeewayProcess, https_origin: Origin, user: str, host: str, decision: str
) -> None:
    tunnel = connect(
        no_intercept, f"{host}:{https_origin.port}", headers=basic_auth(user, PASSWORDS[user])
    )
    tunnel.close()
    assert tunnel.status == 403
    assert f"x-leeway-decision: {decision}" in tunnel.head.decode("latin-1").lower()
    assert https_origin.seen == []


def test_no_intercept_decides_a_connect_to_an_address_as_the_site_it_serves(
    no_intercept: LeewayProcess, https_origin: Origin
) -> None:
    """The test sites' server is certified for www.facebook.com first: alice is warned
    there, and a warning is a block without interception."""
    login = basic_auth("alice", PASSWORDS["alice"])
    tunnel = connect(no_intercept, f"{ORIGIN_ADDRESS}:{https_origin.port}", headers=login)
    tunnel.close()
    assert tunnel.status == 403
    head = tunnel.head.decode("latin-1").lower()
    assert "x-leeway-decision: warn; reason=rule_matched; category=social" in head
    assert https_origin.seen == []


@pytest.mark.parametrize(
    ("user", "host"),
    [("trina", "x.com"), ("paul", "www.facebook.com"), ("alice", "www.example.org")],
    ids=["trained social", "publisher social", "uncategorised"],
)
def test_no_intercept_tunnels_what_is_allowed_without_decrypting(
    no_intercept: LeewayProcess, https_origin: Origin, user: str, host: str
) -> None:
    tunnel = connect(
        no_intercept, f"{host}:{https_origin.port}", headers=basic_auth(user, PASSWORDS[user])
    )
    assert tunnel.status == 200
    certificate = peer_certificate(tunnel, host)
    assert issuer_name(certificate) == ORIGIN_CA


@pytest.mark.parametrize("strategy", ["lazy", "eager"])
@pytest.mark.parametrize(
    ("user", "sni", "category"),
    [
        ("alice", "www.youtube.com", "rich-media"),
        ("alice", "www.facebook.com", "social"),  # a warning: a block without interception
        ("trina", "i.ytimg.com", "rich-media"),
    ],
    ids=["untrained rich-media", "untrained social", "trained social, rich-media"],
)
def test_no_intercept_closes_a_tunnel_whose_server_name_is_refused(
    request: pytest.FixtureRequest,
    https_origin: Origin,
    strategy: str,
    user: str,
    sni: str,
    category: str,
) -> None:
    """Domain fronting through the proxy: a CONNECT to an open name, then a handshake
    naming a blocked site (the test sites' server answers to every name, as a CDN does)."""
    proxy: LeewayProcess = request.getfixturevalue(
        "no_intercept" if strategy == "lazy" else "no_intercept_eager"
    )
    before = refused(proxy, category, "server_name")
    login = basic_auth(user, PASSWORDS[user])
    tunnel = connect(proxy, f"www.example.org:{https_origin.port}", headers=login)
    assert tunnel.status == 200
    with pytest.raises(OSError):  # ssl.SSLError is one: the proxy closes the tunnel
        peer_certificate(tunnel, sni)
    assert refused(proxy, category, "server_name") == before + 1


@pytest.mark.parametrize(
    ("user", "passes"),
    [("alice", False), ("paul", True)],
    ids=["alice is warned on social: closed", "paul may post there: passes"],
)
def test_no_intercept_decides_a_handshake_without_a_name_by_the_servers_certificate(
    no_intercept: LeewayProcess, https_origin: Origin, user: str, passes: bool
) -> None:
    """An open name of one's own for a site's address, and no server name: the test sites'
    server is certified for www.facebook.com first."""
    before = refused(no_intercept, "social", "server_name")
    login = basic_auth(user, PASSWORDS[user])
    tunnel = connect(no_intercept, f"www.example.org:{https_origin.port}", headers=login)
    assert tunnel.status == 200
    if passes:
        assert issuer_name(peer_certificate(tunnel, None)) == ORIGIN_CA
    else:
        with pytest.raises(OSError):
            peer_certificate(tunnel, None)
    assert refused(no_intercept, "social", "server_name") == before + (0 if passes else 1)


@pytest.mark.parametrize(
    ("host", "reached"),
    [("www.youtube.com", False), ("www.facebook.com", False), ("www.example.org", True)],
    ids=["rich media: closed", "social, warned: closed", "uncategorised: passes"],
)
def test_no_intercept_over_socks_decides_the_tunnel_at_its_handshake(
    socks_no_intercept: LeewayProcess, https_origin: Origin, host: str, reached: bool
) -> None:
    """curl through SOCKS5, unidentified: nothing is decrypted, and a site the policy
    refuses is never reached."""
    proxy = f"127.0.0.1:{socks_no_intercept.port}"
    path = f"/socks-{uuid.uuid4().hex}"  # the origin is shared: this request's own path
    url = f"https://{host}:{https_origin.port}{path}"
    answer = curl("--insecure", "--socks5-hostname", proxy, "--write-out", "%{http_code}", url)
    arrived = [seen.path for seen in https_origin.requests_for(host) if seen.path == path]
    if reached:
        assert (answer.returncode, answer.stdout[-3:]) == (0, "200"), answer.stderr
        assert arrived == [path]
    else:
        assert answer.returncode != 0, answer.stdout
        assert arrived == []


def test_no_intercept_tunnels_a_server_name_that_is_allowed(
    no_intercept: LeewayProcess, https_origin: Origin
) -> None:
    login = basic_auth("trina", PASSWORDS["trina"])
    tunnel = connect(no_intercept, f"www.example.org:{https_origin.port}", headers=login)
    assert tunnel.status == 200
    assert issuer_name(peer_certificate(tunnel, "x.com")) == ORIGIN_CA


def test_clients_can_fetch_the_ca_through_the_proxy(proxy: LeewayProcess) -> None:
    """The banner tells people to browse to http://mitm.it: it must answer."""
    with client(proxy) as http:
        page = http.get("http://mitm.it/")
        pem = http.get("http://mitm.it/cert/pem")
    assert page.status_code == 200
    assert pem.status_code == 200
    assert pem.content == proxy.ca.read_bytes()
