"""Metrics and the audit trail of a real `leeway run`, seen by real clients.

`/metrics` on its own port answers in the Prometheus text format; its counters move with
warned, blocked and allowed requests, usage and Continue clicks, and never name a user,
a host or a path. Decisions on categorised traffic and Continue clicks become rows in
`access_events` within seconds, without path or query; uncategorised requests leave none.
A proxy that never decrypts counts and audits the decisions it makes at CONNECT.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from proxy.store.db import make_engine
from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, XHR, basic_auth, client, connect, continue_form
from tests.e2e.conftest import Proxies, add_cast
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

INSTANCE = "leeway-e2e-7"
TUNNEL_INSTANCE = "leeway-e2e-tunnel"
CACHE_TTL = 1.0  # seconds: a Continue clicked later than this finds the user's entry stale
# Names found nowhere in the Prometheus exposition by chance.
USERS = {
    "ulrike": "Finance",  # untrained: warned, blocked, and browses an uncategorised site
    "trudi": "Policy",  # trained in social media basics: reads freely
    "pia": "Communications",  # a publisher: posts
    "konrad": "Legal",  # untrained: clicks Continue
    "wanda": "Finance",  # untrained: her decisions and her Continue are audited
    "tilo": "Policy",  # trained: his allowed read is audited
    "nina": "Finance",  # untrained: refused at CONNECT
    "theo": "Policy",  # trained: let through at CONNECT
}
CAST = [
    *(["users", "add", name, "--department", department] for name, department in USERS.items()),
    *(
        ["training", "record", name, "social-media-basics"]
        for name in ("trudi", "pia", "tilo", "theo")
    ),
    ["training", "record", "pia", "social-media-publishing"],
    ["grants", "add", "pia", "comms-publisher", "--reason", "press office"],
]
PATH = "/groups/zq-secret-path-4711"
QUERY = "search=zq-secret-query-0815"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
UPLOAD = b"u" * 1234
# The columns of an access event that describe it (besides its id, time and instance).
COLUMNS = (
    *("kind", "username", "department", "host", "category"),
    *("access", "action", "reason", "rule"),
)

type Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    """A store of this module's own: the shared proxies write audit events to theirs."""
    path = tmp_path_factory.mktemp("metrics-db") / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    return add_cast(f"sqlite:///{path}", CAST)


@pytest.fixture(scope="module")
def proxies(
    tmp_path_factory: pytest.TempPathFactory,
    store: str,
    origin_certs: OriginCerts,
    mitmproxy_ca: Path,
) -> Iterator[Proxies]:
    proxies = Proxies(
        tmp_path_factory.mktemp("metrics-proxies"), store, origin_certs.ca, mitmproxy_ca
    )
    yield proxies
    proxies.stop_all()


@pytest.fixture(scope="module")
def logins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An htpasswd file for USERS."""
    path = tmp_path_factory.mktemp("metrics-auth") / "htpasswd"
    salt = bcrypt.gensalt(5)
    path.write_text(
        "".join(f"{name}:{bcrypt.hashpw(password(name), salt).decode()}\n" for name in USERS)
    )
    return path


@pytest.fixture(scope="module")
def proxy(proxies: Proxies, logins: Path) -> LeewayProcess:
    env = {"LEEWAY_INSTANCE": INSTANCE, "LEEWAY_CACHE_TTL": str(CACHE_TTL)}
    return proxies.start("--proxyauth", f"@{logins}", env=env)


@pytest.fixture(scope="module")
def tunnel_proxy(proxies: Proxies, logins: Path) -> LeewayProcess:
    """A proxy that never decrypts: it decides each tunnel at CONNECT."""
    env = {"LEEWAY_INSTANCE": TUNNEL_INSTANCE}
    return proxies.start("--proxyauth", f"@{logins}", "--no-intercept", env=env)


def password(name: str) -> bytes:
    return f"{name}-pw".encode()


def as_user(proxy: LeewayProcess, user: str, origin_certs: OriginCerts) -> httpx.Client:
    return client(proxy, origin_certs.ca, login=(user, password(user).decode()))


def exposition(proxy: LeewayProcess) -> httpx.Response:
    """What Prometheus reads from the proxy's metrics port (straight, not through the proxy)."""
    return httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics", timeout=5)


def samples(body: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in before, f"{name}{labels} does not exist from the start"
    return after[key] - before[key]


def warn_then_continue(http: httpx.Client, site: str) -> tuple[httpx.Response, httpx.Response]:
    """Load a page, read the warning, wait past the cache TTL (a person reads), click."""
    warning = http.get(f"{site}{PATH}?{QUERY}", headers=PAGE)
    form = continue_form(warning.text)
    time.sleep(CACHE_TTL + 0.2)
    fields = {"token": form.token, "next": form.next}
    return warning, http.post(f"{site}{form.action}", data=fields, headers=SAME_ORIGIN)


def test_metrics_move_with_decisions_usage_and_continues(
    proxy: LeewayProcess, https_origin: Origin, http_origin: Origin, origin_certs: OriginCerts
) -> None:
    first = exposition(proxy)
    before = samples(first.text)
    site = f"https://www.facebook.com:{https_origin.port}"
    with as_user(proxy, "ulrike", origin_certs) as ulrike:
        warned = ulrike.get(f"{site}{PATH}?{QUERY}", headers=PAGE)
        blocked = ulrike.post(f"{site}{PATH}?{QUERY}", headers=XHR, content=b"a post")
        plain = ulrike.get(f"http://www.example.org:{http_origin.port}{PATH}?{QUERY}")
    with as_user(proxy, "trudi", origin_certs) as trudi:
        read = trudi.get(f"{site}/feed", headers=XHR)
    with as_user(proxy, "pia", origin_certs) as pia:
        posted = pia.post(f"{site}/status", headers=XHR, content=UPLOAD)
    with as_user(proxy, "konrad", origin_certs) as konrad:
        _, clicked = warn_then_continue(konrad, site)
        opened = konrad.get(f"{site}/", headers=PAGE)
    last = exposition(proxy)
    after = samples(last.text)

    assert (warned.status_code, blocked.status_code, plain.status_code) == (403, 403, 200)
    assert (read.status_code, posted.status_code) == (200, 200)
    assert (clicked.status_code, opened.status_code) == (303, 200)
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain; version=0.0.4")

    def decisions(category: str, action: str, reason: str) -> float:
        labels = {"category": category, "action": action, "reason": reason}
        return moved(before, after, "leeway_decisions_total", **labels)

    assert decisions("social", "warn", "rule_matched") == 2  # ulrike's page, konrad's
    assert decisions("social", "block", "rule_matched") == 1  # ulrike's post
    assert decisions("social", "allow", "rule_matched") == 2  # trudi's read, pia's post
    assert decisions("social", "allow", "acknowledged") == 1  # konrad after his Continue
    assert decisions("none", "allow", "uncategorized") == 1  # ulrike on example.org
    assert moved(before, after, "leeway_decision_seconds_count") == 7
    assert moved(before, after, "leeway_requests_total", category="social") == 6
    assert moved(before, after, "leeway_requests_total", category="none") == 1
    assert moved(before, after, "leeway_acknowledgements_total", category="social") == 1
    # Bytes that went to the site and came back from it: Leeway's own pages are not usage.
    down = moved(before, after, "leeway_bytes_total", category="social", direction="down")
    up = moved(before, after, "leeway_bytes_total", category="social", direction="up")
    assert down == len(read.content) + len(posted.content) + len(opened.content)
    assert up == len(UPLOAD)
    assert moved(before, after, "leeway_audit_events_dropped_total") == 0
    assert after[("leeway_audit_events_dropped_total", frozenset())] == 0


def test_policy_info_names_the_revision_in_the_banner(proxy: LeewayProcess) -> None:
    banner = re.search(r"policy: .* \(revision (\S+)\)", proxy.log())
    assert banner is not None, proxy.log()
    info = {
        labels: value
        for (name, labels), value in samples(exposition(proxy).text).items()
        if name == "leeway_policy_info"
    }
    assert info == {frozenset({("revision", banner.group(1))}): 1.0}


def test_the_exposition_names_no_user_host_or_path(
    proxy: LeewayProcess, https_origin: Origin, http_origin: Origin, origin_certs: OriginCerts
) -> None:
    with as_user(proxy, "ulrike", origin_certs) as ulrike:
        ulrike.get(f"https://www.facebook.com:{https_origin.port}{PATH}?{QUERY}", headers=PAGE)
        ulrike.get(f"https://x.com:{https_origin.port}{PATH}?{QUERY}", headers=XHR)
        ulrike.get(f"http://www.example.org:{http_origin.port}{PATH}?{QUERY}")
    body = exposition(proxy).text.lower()
    assert 'leeway_decisions_total{action="warn",category="social"' in body
    forbidden = [*USERS, "facebook", "x.com", "example", "zq-secret", PATH, QUERY, "127.0.0"]
    found = [word for word in forbidden if word.lower() in body]
    assert found == [], f"the exposition names {found}"


def test_metrics_are_served_on_their_own_port_only(proxy: LeewayProcess) -> None:
    # Asked directly (not as a proxy), and logged in, the proxy port answers no metrics.
    login = basic_auth("ulrike", password("ulrike").decode())
    direct = httpx.get(f"http://127.0.0.1:{proxy.port}/metrics", headers=login, timeout=10)
    assert direct.status_code != 200
    assert "leeway_" not in direct.text
    assert exposition(proxy).status_code == 200
    # The metrics port listens on 127.0.0.1 only, not on every address of the host.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.2:{proxy.metrics_port}/metrics", timeout=5)
    # And a client of the proxy cannot read it through the proxy either.
    with httpx.Client(proxy=proxy.url, headers=login, timeout=10) as through:
        for name in ("127.0.0.1", "localhost"):
            relayed = through.get(f"http://{name}:{proxy.metrics_port}/metrics")
            assert relayed.status_code == 403, name
            assert "leeway_" not in relayed.text


def audit_rows(db_url: str, *usernames: str) -> list[dict[str, Any]]:
    """Every column of the access events of `usernames`, in the order they were stored."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT * FROM access_events ORDER BY id"),
            ).mappings()
            return [dict(row) for row in rows if row["username"] in usernames]
    finally:
        engine.dispose()


def test_decisions_and_continues_become_audit_events_without_path_or_query(
    proxy: LeewayProcess,
    store: str,
    https_origin: Origin,
    http_origin: Origin,
    origin_certs: OriginCerts,
) -> None:
    started = datetime.now(UTC)
    site = f"https://www.facebook.com:{https_origin.port}"
    with as_user(proxy, "wanda", origin_certs) as wanda:
        wanda.post(f"{site}{PATH}?{QUERY}", headers=XHR, content=b"a post")
        warning, clicked = warn_then_continue(wanda, site)
        opened = wanda.get(f"{site}{PATH}?{QUERY}", headers=PAGE)
        plain = wanda.get(f"http://www.example.org:{http_origin.port}{PATH}?{QUERY}")
    with as_user(proxy, "tilo", origin_certs) as tilo:
        read = tilo.get(f"https://x.com:{https_origin.port}{PATH}?{QUERY}", headers=XHR)
    assert [r.status_code for r in (warning, clicked, opened, plain, read)] == [
        *(403, 303, 200, 200, 200)
    ]

    rows = eventually(
        lambda: audit_rows(store, "wanda", "tilo"),
        "5 events of wanda and tilo stored",
        until=lambda r: len(r) >= 5,
        within=10.0,
    )
    finished = datetime.now(UTC)

    assert {row["instance"] for row in rows} == {INSTANCE}
    seen = Counter(tuple(row[name] for name in COLUMNS) for row in rows)
    on_facebook = ("wanda", "Finance", "www.facebook.com", "social")
    on_x = ("tilo", "Policy", "x.com", "social")
    everyone, trained = "social-everyone", "social-trained-staff"
    assert seen == Counter(
        {
            ("decision", *on_facebook, "write", "block", "rule_matched", everyone): 1,
            ("decision", *on_facebook, "read", "warn", "rule_matched", everyone): 1,
            ("acknowledgement", *on_facebook, "read", "allow", "acknowledged", None): 1,
            ("decision", *on_facebook, "read", "allow", "acknowledged", everyone): 1,
            ("decision", *on_x, "read", "allow", "rule_matched", trained): 1,
        }
    ), rows
    uncategorised = [row for row in audit_rows(store, *USERS) if "example" in row["host"]]
    assert uncategorised == [], "an uncategorised request made an access event"
    for row in rows:
        occurred_at = as_utc(row["occurred_at"])
        assert started <= occurred_at <= finished
        values = " ".join(str(value) for value in row.values())
        for secret in ("zq-secret", "groups", "search", "?", "example.org", "127.0.0"):
            assert secret not in values, f"{secret!r} is in an access event: {row}"


def as_utc(value: object) -> datetime:
    """A stored timestamp: SQLite hands back text, stored as UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def test_decisions_at_connect_are_counted_and_audited(
    tunnel_proxy: LeewayProcess, store: str, https_origin: Origin
) -> None:
    before = samples(exposition(tunnel_proxy).text)
    target = f"www.facebook.com:{https_origin.port}"
    refused = connect(tunnel_proxy, target, headers=basic_auth("nina", password("nina").decode()))
    refused.close()
    opened = connect(tunnel_proxy, target, headers=basic_auth("theo", password("theo").decode()))
    opened.close()
    after = samples(exposition(tunnel_proxy).text)
    assert (refused.status, opened.status) == (403, 200)

    def decisions(action: str) -> float:
        labels = {"category": "social", "action": action, "reason": "rule_matched"}
        return moved(before, after, "leeway_decisions_total", **labels)

    assert (decisions("warn"), decisions("allow")) == (1, 1)
    assert moved(before, after, "leeway_requests_total", category="social") == 2
    rows = eventually(
        lambda: audit_rows(store, "nina", "theo"),
        "2 events of nina and theo stored",
        until=lambda r: len(r) >= 2,
        within=10.0,
    )
    assert Counter((row["username"], row["action"], row["instance"]) for row in rows) == Counter(
        {("nina", "warn", TUNNEL_INSTANCE): 1, ("theo", "allow", TUNNEL_INSTANCE): 1}
    )
    assert {row["host"] for row in rows} == {"www.facebook.com"}
