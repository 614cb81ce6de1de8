"""Sign-in over ldaps against a directory whose certificate comes from the office's own CA.

A real `leeway run --proxyauth ldaps:...` (the spec, with the service password, in
LEEWAY_PROXYAUTH) against slapd's ldaps port: with LEEWAY_AUTH_CA_FILE the person signs in
and gets the stored person's decision; without it (the system's CAs only) the sign-in fails
closed with 407, and the log says once that the certificate is not trusted.
"""

from __future__ import annotations

import shutil
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

STORE = [
    ["users", "add", "alice", "--department", "Communications"],
    ["training", "record", "alice", "social-media-basics"],
    ["training", "record", "alice", "social-media-publishing"],
    ["grants", "add", "alice", "comms-publisher", "--reason", "press office"],
]


@pytest.fixture(scope="module")
def ldaps_proxies(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    slapd: Slapd,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[tuple[LeewayProcess, LeewayProcess]]:
    """Two proxies on one store and one directory: with the CA file, and without it."""
    ou = slapd.new_ou("signin-tls")
    slapd.add(sample_ldif(ou))
    directory = tmp_path_factory.mktemp("signin-tls")
    shutil.copyfile(sqlite_template, directory / "leeway.db")
    db_url = add_cast(f"sqlite:///{directory / 'leeway.db'}", STORE)
    spec = f"ldaps:localhost:{slapd.tls_port}:{SYNC_DN}:{SYNC_PASSWORD}:ou=people,{ou}"
    # The spec holds the service password: in the environment, never on a command line.
    env = {"LEEWAY_PROXYAUTH": f"{spec}?search_filter_key=uid", "LEEWAY_AUTH_TIMEOUT": "5"}
    proxies = Proxies(directory, db_url, origin_certs.ca, mitmproxy_ca)
    trusting = proxies.start(env={**env, "LEEWAY_AUTH_CA_FILE": str(slapd.ca_file)})
    yield trusting, proxies.start(env=env)
    proxies.stop_all()


def post_as(proxy: LeewayProcess, origin: Origin, login: tuple[str, str]) -> httpx.Response:
    with client(proxy, login=login) as http:
        return http.post(f"http://www.facebook.com:{origin.port}/status", headers=XHR)


def test_with_the_offices_ca_file_a_directory_user_signs_in(
    ldaps_proxies: tuple[LeewayProcess, LeewayProcess], http_origin: Origin
) -> None:
    trusting, _ = ldaps_proxies
    signed_in = post_as(trusting, http_origin, ("Alice", "alice-password"))
    assert signed_in.status_code == 200  # alice's decision: a publisher may post
    assert post_as(trusting, http_origin, ("alice", "bob-password")).status_code == 407
    assert "not trusted" not in trusting.log()


def test_without_it_the_sign_in_fails_closed_and_the_log_says_why_once(
    ldaps_proxies: tuple[LeewayProcess, LeewayProcess], http_origin: Origin
) -> None:
    _, untrusting = ldaps_proxies
    for login in [("alice", "alice-password"), ("alice", "alice-password"), ("bob", "bob-pw")]:
        refused = post_as(untrusting, http_origin, login)
        assert refused.status_code == 407
        assert "proxy-authenticate" in refused.headers
    log = untrusting.log()
    assert log.count("its certificate is not trusted") == 1, log
    assert "self-signed certificate in certificate chain" in log
    assert "--auth-ca-file" in log
    assert "alice-password" not in log and SYNC_PASSWORD not in log
