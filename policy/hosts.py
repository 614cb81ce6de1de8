"""Host names as the policy sees them: every spelling a request or a policy file may use,
brought to one normal form (case, port, trailing dot, IDN, IPv4 and IPv6 spellings).

Every name a request carries goes through `normalise_host`; the compiled policy remembers
the answers (`Policy.classify`), so nothing here caches. `policy.domains` matches the
normal forms to categories.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass
from encodings import idna

MAX_NAME = 253
# Far longer than any host with brackets and a port: refused before any parsing.
_MAX_RAW = 1024
# Names already in normal form (label lengths are checked apart). Possessive, so no
# backtracking. A last label starting with a digit may be an IPv4 number, so it is excluded.
_NORMAL = re.compile(
    r"(?:[a-z0-9_]++(?:-++[a-z0-9_]++)*+\.)*+[a-z_][a-z0-9_]*+(?:-++[a-z0-9_]++)*+"
)
_NORMAL_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_LABEL_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
_UNICODE_DOTS = str.maketrans("\u3002\uff0e\uff61", "...")
# As browsers decide (WHATWG URL "ends in a number"), a name whose last label is a number is
# an IPv4 address, its parts written in decimal, octal (0...) or hex (0x...) as resolvers read them.
_NUMBER = re.compile(r"0x[0-9a-f]*|[0-9]+")
_IPV4_PART = re.compile(r"0x([0-9a-f]*)|0([0-7]+)|(0|[1-9][0-9]*)")
# IDNA 2003 (the standard library) maps these away; IDNA 2008, as browsers send it, keeps them.
_DEVIATIONS = frozenset("ß\u03c2\u200c\u200d")


@dataclass(frozen=True, slots=True)
class InvalidHost:
    """A name that is not a host, with the reason in plain words."""

    raw: str
    reason: str

    def __str__(self) -> str:
        shown = self.raw if len(self.raw) <= 80 else self.raw[:80] + "..."
        return f"{shown!r} is not a host name: {self.reason}"


class HostError(ValueError):
    """A domain in a policy file is not a host name."""


class _Invalid(Exception):
    """Internal: carries the reason out of the slow path."""


def normalise_host(raw: str) -> str | InvalidHost:
    """The normal form of a host from a request, or why it is not one; never raises.

    Lower case, no port, no trailing dot, punycode for international names, canonical IPs.
    """
    if len(raw) > _MAX_RAW:
        return InvalidHost(raw, f"longer than {MAX_NAME} characters")
    return _normalise_host(raw)


def normalise_domain(raw: str) -> str:
    """The normal form of a domain listed in a policy file; raises HostError if it is not one."""
    if deviations := sorted(_DEVIATIONS.intersection(raw.lower())):
        raise HostError(
            f"{raw!r}: {', '.join(map(repr, deviations))} is converted differently by IDNA 2003"
            " and IDNA 2008; list the ASCII form you mean (browsers send the IDNA 2008 xn-- form)"
        )
    if "/" in raw:
        raise HostError(f"{raw!r} is not a domain: list the domain only, without scheme or path")
    try:
        return _normalise(raw, allow_port=False)
    except _Invalid as e:
        hint = f"; list {raw[2:]!r}, which covers its subdomains too" if raw[:2] == "*." else ""
        raise HostError(f"{InvalidHost(raw, str(e))}{hint}") from None


def is_ip_literal(host: str) -> bool:
    """Whether a normalised host is an IPv4 or IPv6 address."""
    return ":" in host or host.rpartition(".")[2].isdigit()


def _normalise_host(raw: str) -> str | InvalidHost:
    if (
        len(raw) <= MAX_NAME
        and "xn--" not in raw  # an A-label must be checked
        and _NORMAL.fullmatch(raw) is not None
        and (len(raw) <= 63 or max(map(len, raw.split("."))) <= 63)
    ):
        return raw
    try:
        return _normalise(raw, allow_port=True)
    except _Invalid as e:
        return InvalidHost(raw, str(e))


def _normalise(raw: str, allow_port: bool) -> str:
    if raw.startswith("["):
        end = raw.find("]")
        if end < 0:
            raise _Invalid("'[' without ']'")
        rest = raw[end + 1 :]
        if rest and not rest.startswith(":"):
            raise _Invalid(f"unexpected {rest!r} after ']'")
        _check_port(rest[1:] if rest else None, allow_port)
        return _ipv6(raw[1:end])
    colons = raw.count(":")
    if colons > 1:
        return _ipv6(raw)
    host, _, port = raw.partition(":")
    _check_port(port if colons else None, allow_port)
    return _name(host)


def _check_port(port: str | None, allow_port: bool) -> None:
    if port is None:
        return
    if not allow_port:
        raise _Invalid("a port is not allowed here")
    # An empty port is allowed by RFC 3986 ("example.com:") and means the default one.
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise _Invalid(f"bad port {port!r}")


def _ipv6(text: str) -> str:
    if "%" in text:
        raise _Invalid("zone index in IPv6 address")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise _Invalid(f"bad IPv6 address {text!r}") from None
    # ::ffff:a.b.c.d reaches a.b.c.d, so it is decided as that address.
    mapped = address.ipv4_mapped
    return str(mapped) if mapped is not None else address.compressed


def _name(host: str) -> str:
    if not host.isascii():
        host = host.translate(_UNICODE_DOTS)
    host = host.removesuffix(".")
    if not host:
        raise _Invalid("empty host")
    labels = [_label(label) for label in host.split(".")]
    if _NUMBER.fullmatch(labels[-1]):
        return _ipv4(labels)
    name = ".".join(labels)
    if len(name) > MAX_NAME:
        raise _Invalid(f"longer than {MAX_NAME} characters")
    return name


def _label(label: str) -> str:
    if not label:
        raise _Invalid("empty label")
    if label.isascii():
        label = label.lower()
    else:
        try:
            label = idna.ToASCII(label).decode("ascii").lower()
        except UnicodeError as e:
            raise _Invalid(f"cannot convert {label!r} to ASCII ({e})") from None
    if _NORMAL_LABEL.fullmatch(label) is None:
        raise _Invalid(_label_problem(label))
    if label.startswith("xn--"):
        _check_a_label(label)
    return label


def _label_problem(label: str) -> str:
    if len(label) > 63:
        return "label longer than 63 characters"
    bad = next((c for c in label if c not in _LABEL_CHARS), None)
    if bad == " ":
        return "space in label"
    if bad is not None:
        return "whitespace in label" if bad.isspace() else f"{bad!r} not allowed in a label"
    return f"label {label!r} starts or ends with a hyphen"


def _check_a_label(label: str) -> None:
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        raise _Invalid(f"label {label!r} is not valid punycode") from None
    encoded = decoded.encode("punycode").decode("ascii")
    if decoded.isascii() or not decoded.isprintable() or encoded != label[4:]:
        raise _Invalid(f"label {label!r} is not valid punycode")


def _ipv4(labels: list[str]) -> str:
    *high, low = numbers = [_ipv4_part(part) for part in labels]
    # The last part fills the bytes the others leave: "127.1" is 127.0.0.1.
    if len(numbers) > 4 or any(n > 255 for n in high) or low >= 256 ** (4 - len(high)):
        raise _Invalid("bad IPv4 address")
    value = low + sum(n << (8 * (3 - i)) for i, n in enumerate(high))
    return str(ipaddress.IPv4Address(value))


def _ipv4_part(part: str) -> int:
    match = _IPV4_PART.fullmatch(part)
    if match is None:
        raise _Invalid("bad IPv4 address")
    hexadecimal, octal, decimal = match.groups()
    if hexadecimal is not None:
        return int(hexadecimal or "0", 16)
    return int(octal, 8) if octal else int(decimal)
