"""Reading the directory: connect, bind read-only, search in pages (RFC 2696), read groups.

Every failure of the server or the network becomes one `DirectoryError` whose message is a
single line saying what failed and where (never the password). ldaps:// verifies the
server's certificate, against `ca_file` when given, else the system's CAs.
"""

from __future__ import annotations

import math
import ssl
import time
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as lx

from proxy.directory.entries import OBJECT_GUID, guid_text

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PAGED_RESULTS = "1.2.840.113556.1.4.319"
TIME_LIMIT_EXCEEDED, SIZE_LIMIT_EXCEEDED = 3, 4
type Attributes = dict[str, list[str]]


class DirectoryError(Exception):
    """The directory could not be read: unreachable, refused the bind, no such base, ..."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the directory is and how to bind to it."""

    url: str
    bind_dn: str
    password: str
    ca_file: Path | None = None
    timeout: float = 30.0


class DirectoryClient:
    """One read-only connection; `waited` adds up the seconds spent waiting for the server."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.waited = 0.0
        self._connection: Connection | None = None

    def __enter__(self) -> DirectoryClient:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        e = self.endpoint
        tls = None
        if e.url.lower().startswith("ldaps://"):
            ca = str(e.ca_file) if e.ca_file is not None else None
            tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=ca)
        server = Server(e.url, get_info=NONE, connect_timeout=e.timeout, tls=tls)
        connection = Connection(
            server,
            user=e.bind_dn,
            password=e.password,
            read_only=True,
            raise_exceptions=True,
            auto_referrals=False,
            receive_timeout=max(1, math.ceil(e.timeout)),  # ldap3 packs it as an integer
        )
        try:
            with self._errors(f"bind as {e.bind_dn}"):
                connection.open()
                connection.bind()
        except DirectoryError:
            with suppress(lx.LDAPException):
                connection.unbind()  # closes the socket a refused bind leaves open
            if connection.socket is not None:
                connection.socket.close()  # ldap3 leaves a socket that could not connect open
            raise
        self._connection = connection

    def close(self) -> None:
        if self._connection is not None:
            with suppress(lx.LDAPException):  # the server is gone already: nothing to close
                self._connection.unbind()
            self._connection = None

    def search(
        self, base: str, search_filter: str, attributes: list[str], page_size: int
    ) -> Iterator[tuple[str, Attributes]]:
        """(dn, attributes) of every entry under `base` matching, page by page."""
        cookie: bytes | None = None
        while True:
            with self._errors(f"search {base} for {search_filter}"):
                self._call(
                    base,
                    search_filter,
                    SUBTREE,
                    attributes,
                    paged_size=page_size,
                    paged_cookie=cookie,
                )
            self._refuse_truncated(f"search {base} for {search_filter}")
            yield from self._entries()
            cookie = self._cookie()
            if not cookie:
                return

    def read(self, dn: str, attributes: list[str]) -> Attributes | None:
        """One entry's attributes, or None if there is no such entry."""
        try:
            with self._errors(f"read {dn}"):
                self._call(dn, "(objectClass=*)", BASE, attributes)
        except _NoSuchEntry:
            return None
        return next((attrs for _, attrs in self._entries()), None)

    def _call(
        self,
        base: str,
        search_filter: str,
        scope: Literal["BASE", "LEVEL", "SUBTREE"],
        attributes: list[str],
        **paging: Any,
    ) -> None:
        assert self._connection is not None, "open() first"
        started = time.monotonic()
        try:
            self._connection.search(
                base,
                search_filter,
                scope,
                attributes=attributes,
                time_limit=max(1, int(self.endpoint.timeout)),
                **paging,
            )
        finally:
            self.waited += time.monotonic() - started

    def _refuse_truncated(self, what: str) -> None:
        """ldap3 does not raise for these two: a partial answer must not pass for the whole."""
        assert self._connection is not None
        code = self._connection.result.get("result")
        if code in (SIZE_LIMIT_EXCEEDED, TIME_LIMIT_EXCEEDED):
            limit = "size" if code == SIZE_LIMIT_EXCEEDED else "time"
            raise DirectoryError(
                f"{self.endpoint.url}: {what}: the server's {limit} limit cut the answer short"
                " (give the service account a higher limit for paged searches)"
            )

    def _entries(self) -> Iterator[tuple[str, Attributes]]:
        assert self._connection is not None
        for item in self._connection.response or []:
            if item.get("type") == "searchResEntry":
                attributes = {k: _values(v) for k, v in item["attributes"].items()}
                for name, raw in item.get("raw_attributes", {}).items():
                    if name.lower() == OBJECT_GUID.lower():  # binary: its text form
                        attributes[name] = [t for value in raw if (t := guid_text(value))]
                yield item["dn"], attributes

    def _cookie(self) -> bytes | None:
        assert self._connection is not None
        control = (self._connection.result.get("controls") or {}).get(PAGED_RESULTS)
        if control is None:
            return None
        cookie: bytes | None = control["value"]["cookie"]
        return cookie

    def _errors(self, what: str) -> AbstractContextManager[None]:
        return _translated(self.endpoint, what)


class _NoSuchEntry(DirectoryError):
    pass


@contextmanager
def _translated(endpoint: Endpoint, what: str) -> Iterator[None]:
    """ldap3's exceptions as one `DirectoryError` line naming the server and the operation."""
    try:
        yield
    except lx.LDAPNoSuchObjectResult:
        raise _NoSuchEntry(f"{endpoint.url}: {what}: no such entry (check the DN)") from None
    except lx.LDAPException as e:
        raise DirectoryError(f"{endpoint.url}: {what}: {_reason(e, endpoint.timeout)}") from None


def _reason(error: lx.LDAPException, timeout: float) -> str:
    if isinstance(error, lx.LDAPInvalidCredentialsResult):
        return "invalid credentials (check the bind DN and the password file)"
    if isinstance(error, lx.LDAPSocketOpenError):
        return f"cannot connect: {_first_line(error)}"
    if isinstance(error, lx.LDAPSocketReceiveError | lx.LDAPResponseTimeoutError):
        return f"no answer within {timeout:g} s (the server is stalled or too slow)"
    if isinstance(error, lx.LDAPCommunicationError):
        return f"the connection was lost: {_first_line(error)}"
    if isinstance(error, lx.LDAPSizeLimitExceededResult):
        return "the server's size limit was exceeded although the search is paged"
    if isinstance(error, lx.LDAPTimeLimitExceededResult):
        return f"the server's time limit ({timeout:g} s) was exceeded"
    if isinstance(error, lx.LDAPOperationResult):
        return f"refused: {error.description} {error.message}".strip()
    return _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _values(value: object) -> list[str]:
    """ldap3 gives a list, or one value for a single-valued attribute it knows: always a list."""
    items = value if isinstance(value, list) else [value]
    return [
        item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in items
    ]
