"""The access page through a real `leeway run`, with real clients (httpx, curl).

One proxy for the module (everyone logs in; a policy whose block page names a role; its
own store), one with `connection_strategy=eager` and nobody logged in, and the session's
open proxy for a visitor the proxy cannot identify. Each test uses people of its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, client, curl_answer
from tests.e2e.conftest import PASSWORDS, TRUSTED_HEADER, TRUSTED_PEER, Proxies, add_cast
from tests.e2e.origin import Origin
from tests.e2e.portal_setup import PEOPLE, POLICY, PORTAL, leeway_command, request_form, request_id
from tests.e2e.proxy_process import LeewayProcess
from tests.waiting import eventually

pytestmark = [pytest.mark.slow, pytest.mark.process]

JSON = {"Accept": "application/json"}
PRIVATE = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.fixture(scope="module")
def portal_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> str:
    path = tmp_path_factory.mktemp("portal-db") / "leeway.db"
    shutil.copyfile(sqlite_template, path)
    return add_cast(f"sqlite:///{path}", PEOPLE)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portal-policy") / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def portal_proxy(
    module_proxies: Proxies, portal_db: str, policy_file: Path, htpasswd: Path
) -> LeewayProcess:
    return module_proxies.start(
        *("--proxyauth", f"@{htpasswd}", "--policy", str(policy_file)),
        env={"LEEWAY_CACHE_TTL": "1"},
        db_url=portal_db,
    )


@pytest.fixture(scope="module")
def eager_proxy(module_proxies: Proxies, portal_db: str, policy_file: Path) -> LeewayProcess:
    """Connecting to sites at CONNECT, and with a resolver that names the portal host: it
    must still be answered by the proxy, never connected to."""
    proxy = module_proxies.start(
        "--set", "connection_strategy=eager", "--policy", str(policy_file), db_url=portal_db
    )
    with proxy.hosts.open("a") as hosts:  # in place: the file is bind-mounted
        hosts.write(f"127.0.0.50 {PORTAL}\n")
    return proxy


class People(dict[str, httpx.Client]):
    """A client through the proxy for each person, logged in as them, made when first used."""

    def __init__(self, proxy: LeewayProcess, origin_ca: Path) -> None:
        super().__init__()
        self.proxy, self.origin_ca = proxy, origin_ca

    def __missing__(self, name: str) -> httpx.Client:
        made = self[name] = client(self.proxy, self.origin_ca, login=(name, PASSWORDS[name]))
        return made


@pytest.fixture
def as_person(portal_proxy: LeewayProcess, origin_certs: OriginCerts) -> Iterator[People]:
    people = People(portal_proxy, origin_certs.ca)
    yield people
    for each in people.values():
        each.close()


def private(response: httpx.Response) -> None:
    assert {name: response.headers.get(name) for name in PRIVATE} == PRIVATE
    assert not [n for n in response.headers if n.lower().startswith("access-control-")]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_access_page_of_a_trained_and_an_untrained_person(
    as_person: People, scheme: str
) -> None:
    trina = as_person["trina"].get(f"{scheme}://{PORTAL}/", headers=JSON)
    assert trina.status_code == 200
    private(trina)
    got = trina.json()
    assert (got["person"]["username"], got["person"]["identified_by"]) == ("trina", "proxyauth")
    social = next(c for c in got["categories"] if c["name"] == "social")
    assert (social["read"]["action"], social["write"]["action"]) == ("allow", "block")
    basics = next(c for c in got["courses"] if c["key"] == "social-media-basics")
    assert basics["state"] == "valid" and basics["renewal_notice_from"] is not None
    alice = as_person["alice"].get(f"{scheme}://{PORTAL}/")
    assert alice.status_code == 200
    assert "You are <strong>alice</strong> (Finance)" in alice.text
    assert "You may not read social sites: it is blocked." in alice.text
    assert 'href="/request?category=social&amp;role=comms-publisher"' in alice.text
    assert "trina" not in alice.text


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_an_unidentified_visitor_sees_the_policy_and_nothing_personal(
    open_proxy: LeewayProcess, origin_certs: OriginCerts, scheme: str
) -> None:
    with client(open_proxy, origin_certs.ca) as visitor:
        got = visitor.get(f"{scheme}://{PORTAL}/", headers=JSON).json()
        page = visitor.get(f"{scheme}://{PORTAL}/").text
    assert (got["identified"], got["person"], got["requests"]) == (False, None, [])
    assert all("state" not in course for course in got["courses"])
    assert [r["rule"] for r in got["categories"][0]["rules"]][:1] == ["social-publishers"]
    assert "The proxy does not know who you are" in page and "What opens social sites" in page


def test_a_person_named_by_the_upstream_header(
    open_proxy: LeewayProcess, origin_certs: OriginCerts
) -> None:
    headers = {TRUSTED_HEADER: "trina"}
    with client(open_proxy, local_address=TRUSTED_PEER, proxy_headers=headers) as trina:
        page = trina.get(f"http://{PORTAL}/", headers={TRUSTED_HEADER: "trina"}).text
    assert "You are <strong>trina</strong>" in page
    assert "the upstream sign-in header" in page


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_portal_is_never_forwarded_also_when_connecting_eagerly(
    eager_proxy: LeewayProcess, http_origin: Origin, https_origin: Origin, scheme: str
) -> None:
    origin = https_origin if scheme == "https" else http_origin
    answer = curl_answer(
        "--proxy", eager_proxy.url, "--cacert", str(eager_proxy.ca),
        f"{scheme}://{PORTAL}:{origin.port}/",
    )  # fmt: skip
    assert answer.status == 200 and "Access to sites through this proxy" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert origin.seen == []


def test_ask_from_a_block_page_then_approval_opens_the_site(
    as_person: People, portal_db: str, https_origin: Origin
) -> None:
    alice = as_person["alice"]
    site = f"https://www.facebook.com:{https_origin.port}"
    blocked = alice.get(f"{site}/feed", headers=PAGE)
    assert blocked.status_code == 403 and "Ask for access" in blocked.text
    action, fields = request_form(blocked.text)
    assert action == f"https://{PORTAL}/requests"
    asked = alice.post(
        action,
        data={**fields, "justification": "I run the <b>press</b> office's page."},
        headers={"Origin": site},
    )
    assert asked.status_code == 303, asked.text
    number = request_id(asked.headers["location"])
    shown = alice.get(f"https://{PORTAL}{asked.headers['location']}")
    assert "Your request is recorded" in shown.text and "What happens next" in shown.text
    assert "I run the &lt;b&gt;press&lt;/b&gt; office" in shown.text
    assert alice.get(f"{site}/feed", headers=PAGE).status_code == 403
    approved = leeway_command(portal_db, "requests", "approve", str(number))
    assert approved.returncode == 0, approved.stderr

    def the_site() -> int:
        return alice.get(f"{site}/feed", headers=PAGE).status_code

    eventually(the_site, "alice reaches the site", until=lambda code: code == 200, within=10)
    assert [seen.path for seen in https_origin.requests_for("www.facebook.com")][:1] == ["/feed"]
    mine = alice.get(f"http://{PORTAL}/", headers=JSON).json()
    assert [(r["id"], r["state"]) for r in mine["requests"]] == [(number, "approved")]
    assert [role["role"] for role in mine["roles"]] == ["comms-publisher"]


def test_a_denied_request_shows_its_reason(as_person: People, portal_db: str) -> None:
    bea = as_person["bea"]
    form_page = bea.get(f"https://{PORTAL}/request?category=social&role=comms-publisher")
    action, fields = request_form(form_page.text)
    asked = bea.post(
        action,
        data={**fields, "justification": "Campaign."},
        headers={"Origin": f"https://{PORTAL}"},
    )
    number = request_id(asked.headers["location"])
    denied = leeway_command(
        portal_db, "requests", "deny", str(number), "--reason", "Use the <press> account."
    )
    assert denied.returncode == 0, denied.stderr
    page = bea.get(f"https://{PORTAL}/").text
    assert "<strong>denied</strong> (Use the &lt;press&gt; account.)" in page
    request = bea.get(f"https://{PORTAL}/requests/{number}").text
    assert "Your request was denied" in request and "Use the &lt;press&gt; account." in request


def test_a_second_person_can_neither_see_nor_act_on_the_first_persons_request(
    as_person: People, portal_db: str
) -> None:
    cal, dan = as_person["cal"], as_person["dan"]
    form_page = cal.get(f"https://{PORTAL}/request?category=social&role=comms-publisher")
    action, fields = request_form(form_page.text)
    asked = cal.post(action, data={**fields, "justification": "Mine."})
    number = request_id(asked.headers["location"])
    assert dan.get(f"https://{PORTAL}/requests/{number}").status_code == 404
    assert dan.get(f"https://{PORTAL}/", headers=JSON).json()["requests"] == []
    assert "Mine." not in dan.get(f"https://{PORTAL}/").text
    stolen = dan.post(action, data={**fields, "justification": "Dan's."})
    assert stolen.status_code == 403 and "token is for another user" in stolen.text
    listed = leeway_command(portal_db, "requests", "list", "--json")
    justifications = {r["justification"] for r in json.loads(listed.stdout)["requests"]}
    assert "Dan's." not in justifications and "Mine." in justifications


def test_asking_again_while_pending_makes_no_second_request(
    as_person: People, portal_db: str
) -> None:
    dan = as_person["dan"]
    form_page = dan.get(f"https://{PORTAL}/request?category=social&role=comms-publisher")
    action, fields = request_form(form_page.text)
    first = dan.post(action, data={**fields, "justification": "Once."})
    second = dan.post(action, data={**fields, "justification": "Twice."})
    assert request_id(first.headers["location"]) == request_id(second.headers["location"])
    assert second.headers["location"].endswith("?asked=again")
    again = dan.get(f"https://{PORTAL}/request?category=social&role=comms-publisher").text
    assert "You have already asked for this role" in again and "Once." in again


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_a_cross_site_form_post_is_refused(as_person: People, portal_db: str, origin: str) -> None:
    trina = as_person["trina"]
    form_page = trina.get(f"https://{PORTAL}/request?category=social&role=comms-publisher")
    action, fields = request_form(form_page.text)
    refused = trina.post(
        action, data={**fields, "justification": "Forged."}, headers={"Origin": origin}
    )
    assert refused.status_code == 403
    listed = leeway_command(portal_db, "requests", "list", "--json")
    assert "Forged." not in listed.stdout


def test_a_visit_is_no_decision_and_its_query_is_never_logged(
    as_person: People, portal_proxy: LeewayProcess
) -> None:
    def uncategorised() -> float:
        metrics = httpx.get(f"http://127.0.0.1:{portal_proxy.metrics_port}/metrics").text
        lines = [line for line in metrics.splitlines() if line.startswith("leeway_decisions_total")]
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if "uncategorized" in line)

    before = uncategorised()
    for path in (
        "/?secret-query=1",
        "/request?category=social&role=comms-publisher&x=secret-query",
    ):
        assert as_person["trina"].get(f"http://{PORTAL}{path}").status_code == 200
    assert uncategorised() == before
    assert "secret-query" not in portal_proxy.log()
