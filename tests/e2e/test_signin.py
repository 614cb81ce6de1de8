"""Sign-in against a real directory (slapd) with a real `leeway run --proxyauth ldap:...`.

The store holds `alice` as `users sync` writes her (a publisher) and `trina` by the address
map (127.0.0.3). With slapd stopped (SIGSTOP: it accepts, never answers), trina keeps being
answered fast while a sign-in waits, and fails closed with 407 after LEEWAY_AUTH_TIMEOUT;
after SIGCONT sign-ins work again by themselves.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import XHR, client
from tests.e2e.conftest import Proxies, add_cast
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.ldif_people import sample_ldif
from tests.slapd_server import SYNC_DN, SYNC_PASSWORD, Slapd
from tests.waiting import eventually

TRINA = "127.0.0.3"
AUTH_TIMEOUT = 1.0
STORE = [
    ["users", "add", "alice", "--department", "Communications"],
    ["training", "record", "alice", "social-media-basics"],
    ["training", "record", "alice", "social-media-publishing"],
    ["grants", "add", "alice", "comms-publisher", "--reason", "press office"],
    ["users", "add", "trina"],
    ["training", "record", "trina", "social-media-basics"],
    ["addresses", "add", f"{TRINA}/32", "trina"],
]


@pytest.fixture(scope="module")
def ldap_proxy(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    slapd: Slapd,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[LeewayProcess]:
    ou = slapd.new_ou("signin")
    slapd.add(sample_ldif(ou))
    directory = tmp_path_factory.mktemp("signin")
    shutil.copyfile(sqlite_template, directory / "leeway.db")
    db_url = add_cast(f"sqlite:///{directory / 'leeway.db'}", STORE)
    spec = f"ldap:127.0.0.1:{slapd.port}:{SYNC_DN}:{SYNC_PASSWORD}:ou=people,{ou}"
    env = {
        # The spec holds the service password: in the environment, never on a command line.
        "LEEWAY_PROXYAUTH": f"{spec}?search_filter_key=uid",
        "LEEWAY_AUTH_TIMEOUT": str(AUTH_TIMEOUT),
    }
    proxies = Proxies(directory, db_url, origin_certs.ca, mitmproxy_ca)
    yield proxies.start(env=env)
    slapd.resume()
    proxies.stop_all()


def post_as(proxy: LeewayProcess, origin: Origin, login: tuple[str, str]) -> httpx.Response:
    with client(proxy, login=login) as http:
        return http.post(f"http://www.facebook.com:{origin.port}/status", headers=XHR)


def test_a_directory_user_signs_in_and_gets_the_stored_persons_decision(
    ldap_proxy: LeewayProcess, http_origin: Origin
) -> None:
    assert post_as(ldap_proxy, http_origin, ("ALICE", "alice-password")).status_code == 200
    assert post_as(ldap_proxy, http_origin, ("alice", "bob-password")).status_code == 407
    refused = post_as(ldap_proxy, http_origin, ("bob", "bob-password"))  # in the store? no
    assert refused.status_code == 403
    assert refused.headers["x-leeway-decision"].startswith("block;")
    assert [s.path for s in http_origin.seen] == ["/status"]
    assert not any(
        "proxy-authorization" in {h.lower() for h in s.headers} for s in http_origin.seen
    )


def test_a_stopped_directory_fails_closed_in_time_and_stalls_nobody_else(
    ldap_proxy: LeewayProcess, http_origin: Origin, slapd: Slapd
) -> None:
    signed_in: list[tuple[int, float]] = []

    def sign_in() -> None:
        started = time.monotonic()
        status = post_as(ldap_proxy, http_origin, ("carol", "carol-password")).status_code
        signed_in.append((status, time.monotonic() - started))

    slapd.pause()
    waiting = threading.Thread(target=sign_in)
    latencies: list[float] = []
    with client(ldap_proxy, local_address=TRINA) as trina:
        url = f"http://www.example.org:{http_origin.port}/"
        assert trina.get(url, headers=XHR).status_code == 200  # connected, entitlements loaded
        waiting.start()
        while waiting.is_alive() or len(latencies) < 200:
            started = time.perf_counter()
            answer = trina.get(url, headers=XHR)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200
    waiting.join()
    p99 = statistics.quantiles(latencies, n=100)[98]
    slowest = sorted(latencies)[-5:]
    assert p99 < 0.050, f"p99 {p99 * 1000:.1f} ms over {len(latencies)} requests: {slowest}"
    [(status, took)] = signed_in
    assert status == 407
    assert AUTH_TIMEOUT <= took < AUTH_TIMEOUT + 2.0
    # A second try while it is still down: refused again, and the outage logged only once.
    assert post_as(ldap_proxy, http_origin, ("dave", "dave-password")).status_code == 407
    assert ldap_proxy.log().count("sign-in checks failing") == 1

    slapd.resume()
    eventually(
        lambda: post_as(ldap_proxy, http_origin, ("carol", "carol-password")).status_code,
        "carol signed in once slapd answers again",
        until=lambda status: status == 403,  # signed in: decided (carol is not in the store)
        within=10.0,
    )
    assert "sign-in checks answer again" in ldap_proxy.log()
