"""`leeway pac`: the PAC file, evaluated by a real PAC engine (pacparser), and its command."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pacparser
import pytest

from policy import load_default_policy, parse_policy
from proxy.cli import main
from proxy.pac import Others, ProxyAddress, ProxyAddressError, parse_proxy, render_pac

if TYPE_CHECKING:
    from pathlib import Path

POLICY = b"""
[categories.social]
domains = ["facebook.com", "x.com", "10.9.9.9", "2001:db8::7"]

[categories.rich-media]
domains = ["youtube.com", "videowall"]

[[rules]]
name = "everyone"
categories = ["social", "rich-media"]
read = "warn"
write = "block"
"""
A = ProxyAddress("a.example", 3128)
B = ProxyAddress("b.example", 8080)
FLEET = "PROXY a.example:3128; PROXY b.example:8080"
OTHERS = f"{FLEET}; DIRECT"
AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def make_pac(
    *,
    proxies: tuple[ProxyAddress, ...] = (A, B),
    others: Others = Others.PROXY,
    portal_host: str | None = None,
) -> str:
    policy = parse_policy(POLICY, source="office.toml", label="office.toml")
    domains = [d for c in policy.categories.values() for d in c.domains]
    return render_pac(
        domains=domains,
        proxies=proxies,
        others=others,
        revision=policy.revision,
        source=policy.source,
        generated_at=AT,
        portal_host=portal_host,
    )


def find_proxy(pac: str, hosts: list[str], *, extra: str = "") -> list[str]:
    """What pacparser's FindProxyForURL returns for each host (`extra`: JavaScript run after)."""
    pacparser.init()
    try:
        pacparser.parse_pac_string(pac + extra)
        return [pacparser.find_proxy(f"https://{host}/some/page", host) for host in hosts]
    finally:
        pacparser.cleanup()


CASES = [
    pytest.param("facebook.com", Others.PROXY, FLEET, id="listed domain -> proxies only"),
    pytest.param("m.facebook.com", Others.PROXY, FLEET, id="subdomain -> proxies only"),
    pytest.param("a.b.c.youtube.com", Others.PROXY, FLEET, id="deep subdomain -> proxies only"),
    pytest.param("M.FaceBook.COM", Others.PROXY, FLEET, id="upper-case host -> proxies only"),
    pytest.param("facebook.com.", Others.PROXY, FLEET, id="trailing dot -> proxies only"),
    pytest.param("notfacebook.com", Others.PROXY, OTHERS, id="lookalike -> others"),
    pytest.param("myx.com", Others.PROXY, OTHERS, id="listed text, no label boundary -> others"),
    pytest.param(
        "facebook.com.evil.example", Others.PROXY, OTHERS, id="listed as prefix -> others"
    ),
    pytest.param("www.example.org", Others.PROXY, OTHERS, id="uncategorised -> proxies, DIRECT"),
    pytest.param("www.example.org", Others.DIRECT, "DIRECT", id="--others direct -> DIRECT"),
    pytest.param("m.facebook.com", Others.DIRECT, FLEET, id="--others direct: listed -> proxies"),
    pytest.param("intranet", Others.PROXY, "DIRECT", id="plain host name -> DIRECT"),
    pytest.param("10.1.2.3", Others.PROXY, "DIRECT", id="10/8 -> DIRECT"),
    pytest.param("172.16.5.4", Others.PROXY, "DIRECT", id="172.16/12 -> DIRECT"),
    pytest.param("172.32.0.1", Others.PROXY, OTHERS, id="outside 172.16/12 -> others"),
    pytest.param("192.168.1.1", Others.PROXY, "DIRECT", id="192.168/16 -> DIRECT"),
    pytest.param("127.0.0.1", Others.PROXY, "DIRECT", id="loopback -> DIRECT"),
    pytest.param("::1", Others.PROXY, "DIRECT", id="IPv6 loopback -> DIRECT"),
    pytest.param("8.8.8.8", Others.PROXY, OTHERS, id="public IPv4 -> others"),
    pytest.param("2001:db8::1", Others.PROXY, OTHERS, id="public IPv6 (no dot) -> others"),
    pytest.param("10.9.9.9", Others.PROXY, FLEET, id="listed private IP -> proxies only"),
    pytest.param("[2001:db8::7]", Others.PROXY, FLEET, id="listed IPv6 -> proxies only"),
    pytest.param("videowall", Others.PROXY, FLEET, id="listed plain name -> proxies only"),
]


@pytest.mark.parametrize(("host", "others", "expected"), CASES)
def test_pac_decides(host: str, others: Others, expected: str) -> None:
    assert find_proxy(make_pac(others=others), [host]) == [expected]


def test_failover_order_is_the_order_given() -> None:
    pac = make_pac(proxies=(B, A))
    assert find_proxy(pac, ["x.com", "example.org"]) == [
        "PROXY b.example:8080; PROXY a.example:3128",
        "PROXY b.example:8080; PROXY a.example:3128; DIRECT",
    ]


def test_names_are_never_looked_up_in_dns() -> None:
    # isInNet and dnsResolve resolve a name: slow, and they hang when DNS does.
    trap = "\nfunction isInNet() { throw 'isInNet'; }\nfunction dnsResolve() { throw 'dns'; }\n"
    hosts = ["www.example.org", "m.facebook.com", "intranet", "2001:db8::1"]
    assert find_proxy(make_pac(), hosts, extra=trap) == [OTHERS, FLEET, "DIRECT", OTHERS]


def test_every_domain_of_the_bundled_policy_goes_only_through_the_proxies() -> None:
    policy = load_default_policy()
    domains = sorted({d for c in policy.categories.values() for d in c.domains})
    pac = render_pac(
        domains=domains,
        proxies=[A],
        others=Others.PROXY,
        revision=policy.revision,
        source=policy.source,
        generated_at=AT,
    )
    hosts = [*domains, *(f"www.{d}" for d in domains)]
    assert set(find_proxy(pac, hosts)) == {"PROXY a.example:3128"}


def test_the_header_names_the_policy_revision_and_the_time() -> None:
    policy = parse_policy(POLICY, source="office.toml", label="office.toml")
    header = make_pac().split("\nvar ", 1)[0]
    assert (
        f"Policy office.toml, revision {policy.revision}; generated 2026-03-04T05:06:07Z" in header
    )
    assert all(line.startswith("// ") for line in header.splitlines())


def test_a_newline_in_the_source_cannot_end_the_comment() -> None:
    pac = render_pac(
        domains=["x.com"],
        proxies=[A],
        others=Others.PROXY,
        revision="r1",
        source="evil\nreturn 'DIRECT';",
        generated_at=AT,
    )
    assert find_proxy(pac, ["x.com"]) == ["PROXY a.example:3128"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Proxy1.Example.org:3128", ProxyAddress("proxy1.example.org", 3128), id="name"
        ),
        pytest.param("10.0.0.5:8080", ProxyAddress("10.0.0.5", 8080), id="IPv4"),
        pytest.param("[2001:DB8::5]:1", ProxyAddress("[2001:db8::5]", 1), id="IPv6"),
        pytest.param("a:65535", ProxyAddress("a", 65535), id="highest port"),
    ],
)
def test_good_proxy_addresses(text: str, expected: ProxyAddress) -> None:
    assert parse_proxy(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("proxy1", "expected HOST:PORT", id="no port"),
        pytest.param("proxy1:", "expected HOST:PORT", id="empty port"),
        pytest.param("proxy1:http", "expected HOST:PORT", id="named port"),
        pytest.param(":8080", "expected HOST:PORT", id="no host"),
        pytest.param("a:0", "port 0 is not between 1 and 65535", id="port 0"),
        pytest.param("a:65536", "port 65536 is not between 1 and 65535", id="port too high"),
        pytest.param("bad host:80", "'bad host' is not a host name", id="space"),
        pytest.param("a;DIRECT:80", "is not a host name", id="PAC injection"),
        pytest.param("a-.example:80", "is not a host name", id="label ends with -"),
        pytest.param("10.0.0.256:80", "is not a host name or IP address", id="bad IPv4"),
        pytest.param("[2001:db8::g]:80", "is not a host name or IP address", id="bad IPv6"),
        pytest.param("2001:db8::5:80", "expected HOST:PORT", id="IPv6 without brackets"),
    ],
)
def test_bad_proxy_addresses(text: str, message: str) -> None:
    with pytest.raises(ProxyAddressError, match=re.escape(message)):
        parse_proxy(text)


def leeway_pac(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["pac", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_prints_the_pac_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "office.toml").write_bytes(POLICY)
    code, out, err = leeway_pac(
        capsys, "--proxy", "a.example:3128", "--proxy", "b.example:8080", "--policy", "office.toml"
    )
    assert (code, err) == (0, "")
    assert "revision " + parse_policy(POLICY, source="", label="").revision in out
    assert find_proxy(out, ["m.facebook.com", "example.org"]) == [FLEET, OTHERS]


def test_the_command_writes_the_output_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "proxy.pac"
    target.write_text("old")
    code, out, err = leeway_pac(
        capsys, "--proxy", "a.example:3128", "--others", "direct", "--output", str(target)
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"{target}: ") and "through a.example:3128" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert find_proxy(target.read_text(), ["youtube.com", "example.org"]) == [
        "PROXY a.example:3128",
        "DIRECT",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proxy.pac"]  # no temporary left


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--proxy", "a:0"], 1, "--proxy 'a:0': port 0", id="bad port"),
        pytest.param(["--proxy", "a:1", "--proxy", "A:1"], 1, "a:1 is given twice", id="twice"),
        pytest.param(["--proxy", "a:1", "--output", "no/dir/p.pac"], 1, "--output", id="no dir"),
        pytest.param(["--proxy", "a:1", "--policy", "none.toml"], 1, "none.toml", id="no policy"),
        pytest.param([], 2, "--proxy", id="no proxy"),
        pytest.param(["--proxy", "a:1", "--others", "maybe"], 2, "--others", id="bad --others"),
    ],
)
def test_the_command_refuses(
    args: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out, err = leeway_pac(capsys, *args)
    assert (got, out) == (code, "")
    assert message in err


@pytest.mark.parametrize("others", list(Others))
def test_the_access_page_goes_only_through_the_proxies(others: Others) -> None:
    pac = make_pac(others=others, portal_host="leeway.internal")
    assert find_proxy(pac, ["leeway.internal", "LEEWAY.internal."]) == [FLEET, FLEET]
    assert "// The access page, http://leeway.internal/, goes through them too." in pac
    assert find_proxy(make_pac(others=others), ["leeway.internal"]) != [FLEET]
    assert "// 6 categorised domains" in pac  # the page is not counted as a site


def test_the_command_sends_the_access_page_to_the_proxies(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = leeway_pac(capsys, "--proxy", "a.example:3128", "--others", "direct")
    assert code == 0
    assert find_proxy(out, ["leeway.internal"]) == ["PROXY a.example:3128"]
    monkeypatch.setenv("LEEWAY_PORTAL_HOST", "access.office.example")
    _, out, _ = leeway_pac(capsys, "--proxy", "a.example:3128", "--others", "direct")
    assert find_proxy(out, ["access.office.example", "leeway.internal"]) == [
        "PROXY a.example:3128",
        "DIRECT",
    ]
    code, out, _ = leeway_pac(
        capsys, "--proxy", "a:1", "--others", "direct", "--portal-host", "me.example"
    )
    assert (code, find_proxy(out, ["me.example"])) == (0, ["PROXY a:1"])
