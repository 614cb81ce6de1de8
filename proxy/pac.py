"""PAC files: the JavaScript `FindProxyForURL` that sends categorised sites through Leeway.

Pure: the caller gives the domains, the proxies and the moment; nothing is read or written.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

_ADDRESS = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]]+):(?P<port>[0-9]+)")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?")
_EXAMPLE = "e.g. proxy1.example.org:8080, 10.0.0.5:8080 or [2001:db8::5]:8080"
# Anything that could end a `//` comment line in some JavaScript engine.
_UNSAFE_IN_COMMENT = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")

# ES3 only: Windows' WinHTTP and older browsers run PAC files in old JavaScript engines.
# Keys start with a dot, so no key can be an Object.prototype name such as "constructor".
_FUNCTIONS = r"""
function FindProxyForURL(url, host) {
  var h = String(host).toLowerCase();
  if (h.charAt(0) === "[") {
    h = h.substring(1, h.length - 1);
  }
  while (h.charAt(h.length - 1) === ".") {
    h = h.substring(0, h.length - 1);
  }
  if (leewayCategorised(h)) {
    return LEEWAY_PROXIES;
  }
  if ((isPlainHostName(h) && h.indexOf(":") < 0) || leewayPrivate(h)) {
    return "DIRECT";
  }
  return LEEWAY_OTHERS;
}

// The host itself, then each parent domain: "." + "m.facebook.com", ".facebook.com", ".com".
function leewayCategorised(h) {
  var name = "." + h;
  for (var i = 0; i >= 0; i = name.indexOf(".", i + 1)) {
    if (LEEWAY_DOMAINS[name.substring(i)] === 1) {
      return true;
    }
  }
  return false;
}

// Only for IP literals: isInNet looks a name up in DNS, which is slow and may hang.
function leewayPrivate(h) {
  if (h === "::1") {
    return true;
  }
  if (!/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/.test(h)) {
    return false;
  }
  return isInNet(h, "10.0.0.0", "255.0.0.0") ||
    isInNet(h, "172.16.0.0", "255.240.0.0") ||
    isInNet(h, "192.168.0.0", "255.255.0.0") ||
    isInNet(h, "127.0.0.0", "255.0.0.0");
}
"""


class ProxyAddressError(ValueError):
    """A `--proxy` value that is not HOST:PORT."""


class Others(StrEnum):
    """Where traffic to uncategorised sites goes."""

    PROXY = "proxy"  # through the proxies, DIRECT only when none answers
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class ProxyAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_proxy(text: str) -> ProxyAddress:
    """`host:port` (IPv6 in brackets) as a ProxyAddress; ProxyAddressError says what is wrong."""
    found = _ADDRESS.fullmatch(text.strip())
    if found is None:
        raise ProxyAddressError(f"--proxy {text!r}: expected HOST:PORT ({_EXAMPLE})")
    host, port = found["host"].lower(), int(found["port"])
    if not 1 <= port <= 65535:
        raise ProxyAddressError(f"--proxy {text!r}: port {port} is not between 1 and 65535")
    if not _valid_host(host):
        raise ProxyAddressError(f"--proxy {text!r}: {host!r} is not a host name or IP address")
    return ProxyAddress(host, port)


def _valid_host(host: str) -> bool:
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    labels = host.removesuffix(".").split(".")
    if labels[-1].isdigit():  # an IPv4 address, or nothing
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def proxy_list(proxies: Sequence[ProxyAddress]) -> str:
    """The PAC result for the proxies in failover order: `PROXY a:1; PROXY b:2`."""
    if not proxies:
        raise ValueError("a PAC file needs at least one proxy")
    return "; ".join(f"PROXY {proxy}" for proxy in proxies)


def render_pac(  # noqa: PLR0913 (keyword-only: each part of the file is named)
    *,
    domains: Iterable[str],
    proxies: Sequence[ProxyAddress],
    others: Others,
    revision: str,
    source: str,
    generated_at: datetime,
    portal_host: str | None = None,
) -> str:
    """The PAC file: categorised `domains` (normalised) only ever through `proxies`, in order,
    and the proxies' own access page at `portal_host`, which only they can answer."""
    through = proxy_list(proxies)
    otherwise = f"{through}; DIRECT" if others is Others.PROXY else "DIRECT"
    listed = sorted(set(domains))
    header = _header(proxies, others, revision, source, generated_at, len(listed))
    if portal_host is not None:
        header += f"\n// The access page, http://{_safe(portal_host)}/, goes through them too."
    names = sorted({*listed, portal_host}) if portal_host else listed
    entries = ",\n".join(f"  {json.dumps('.' + domain)}: 1" for domain in names)
    return (
        f"{header}\n"
        f"var LEEWAY_PROXIES = {json.dumps(through)};\n"
        f"var LEEWAY_OTHERS = {json.dumps(otherwise)};\n"
        "// Every categorised domain, with a leading dot; its subdomains are categorised too.\n"
        f"var LEEWAY_DOMAINS = {{\n{entries}\n}};\n"
        f"{_FUNCTIONS}"
    )


def _header(
    proxies: Sequence[ProxyAddress],
    others: Others,
    revision: str,
    source: str,
    generated_at: datetime,
    count: int,
) -> str:
    when = generated_at.isoformat(timespec="seconds").replace("+00:00", "Z")
    rest = (
        "through the proxies, DIRECT only when none answers" if others is Others.PROXY else "DIRECT"
    )
    lines = [
        "Leeway proxy auto-configuration (PAC) file, written by `leeway pac`.",
        f"Policy {_safe(source)}, revision {_safe(revision)}; generated {when}.",
        f"{count} categorised domains (and their subdomains) go through"
        f" {', '.join(map(str, proxies))}, in that order, and never DIRECT.",
        f"Plain host names and private or loopback addresses go DIRECT; everything else: {rest}.",
        "Regenerate this file whenever the policy's categories change.",
    ]
    return "\n".join(f"// {line}" for line in lines)


def _safe(text: str) -> str:
    return _UNSAFE_IN_COMMENT.sub("?", text)
