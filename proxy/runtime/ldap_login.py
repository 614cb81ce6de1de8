"""Checking a password against LDAP or Active Directory, in mitmproxy's `--proxyauth` syntax.

`ldap[s]:HOST[:PORT]:BIND_DN:BIND_PASSWORD:BASE_DN[?search_filter_key=ATTR]`: the service
account finds the one entry whose ATTR (default `cn`) is the login name, then the password
is bound as that entry. Unlike mitmproxy's validator, each check opens its own connections
(safe from several threads, and a directory that was down is simply asked again), every
network step has a time limit, and the canonical name is the entry's own ATTR value
(`Alice` signs in as `alice`). ldaps verifies the certificate and the server's name with a
context of ours (`directory_tls`: the system's CAs or `--auth-ca-file`'s). Blocking: run it
in a worker thread.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from mitmproxy import exceptions
from mitmproxy.addons.proxyauth import Ldap

from addons.signin_checks import SignInUnavailable
from proxy.runtime.directory_tls import CaFileError, verifying_context

SPEC_SHAPE = "ldap[s]:HOST[:PORT]:BIND_DN:BIND_PASSWORD:BASE_DN[?search_filter_key=ATTR]"
INVALID_CREDENTIALS = 49
# The directory says it cannot answer now: not a wrong password.
UNAVAILABLE = frozenset({51, 52})  # busy, unavailable


class LoginSpecError(ValueError):
    """A `--proxyauth` value that cannot be used; the message never repeats a password."""


@dataclass(frozen=True, slots=True)
class LdapLogin:
    use_ssl: bool
    host: str
    port: int | None
    bind_dn: str
    bind_password: str
    base: str
    attribute: str
    timeout: float
    tls: ssl.SSLContext | None = None  # ldaps: made once, shared by the checks' threads

    @classmethod
    def parse(cls, spec: str, timeout: float, ca_file: Path | None = None) -> LdapLogin:
        """The check for `spec`; with ldaps, the certificate is trusted if a CA in `ca_file`
        signed it (none: the system's CAs)."""
        try:
            use_ssl, host, port, bind_dn, password, base, attribute = Ldap.parse_spec(spec)
        except exceptions.OptionsError:
            # mitmproxy's message repeats the spec, and with it the service password.
            raise LoginSpecError(f"an LDAP sign-in is {SPEC_SHAPE}") from None
        try:
            tls = verifying_context(ca_file) if use_ssl else None
        except CaFileError as e:
            raise LoginSpecError(f"the CA file {e}") from None
        return cls(use_ssl, host, port, bind_dn, password, base, attribute, timeout, tls)

    @property
    def where(self) -> str:
        scheme = "ldaps" if self.use_ssl else "ldap"
        return f"{scheme}://{self.host}" + (f":{self.port}" if self.port else "")

    def __repr__(self) -> str:  # no password in a traceback or a log line
        return f"LdapLogin({self.where}, base={self.base!r}, attribute={self.attribute!r})"

    def __call__(self, username: str, password: str) -> str | None:
        """The entry's name for good credentials, None for wrong ones or an unknown user;
        SignInUnavailable when the directory cannot be asked."""
        if not username or not password:  # an empty password binds anonymously
            return None
        try:
            found = self._find(username)
            if found is None:
                return None
            dn, name = found
            return name if self._binds(dn, password) else None
        except LDAPException as e:
            if (untrusted := _untrusted(e)) is not None:
                raise SignInUnavailable(
                    f"{self.where}: its certificate is not trusted ({untrusted}): it must name"
                    f" {self.host} and be signed by a CA of --auth-ca-file (else the system's)"
                ) from None
            raise SignInUnavailable(f"{self.where}: {type(e).__name__}: {e}") from None

    def _find(self, username: str) -> tuple[str, str] | None:
        """The DN and canonical name of the one entry for `username`, or None."""
        service = self._connection(self.bind_dn, self.bind_password)
        try:
            if not service.bind():
                raise SignInUnavailable(
                    f"{self.where}: the service account {self.bind_dn} was refused:"
                    f" {service.result.get('description')}"
                )
            query = f"({self.attribute}={escape_filter_chars(username)})"
            service.search(self.base, query, attributes=[self.attribute], size_limit=2)
            entries = [e for e in service.response or () if e.get("type") == "searchResEntry"]
        finally:
            service.unbind()
        if len(entries) != 1:
            return None
        return str(entries[0]["dn"]), _canonical(entries[0]["attributes"], self.attribute, username)

    def _binds(self, dn: str, password: str) -> bool:
        person = self._connection(dn, password)
        try:
            if person.bind():
                return True
            code = person.result.get("result")
        finally:
            person.unbind()
        if code in UNAVAILABLE:
            raise SignInUnavailable(f"{self.where}: {person.result.get('description')}")
        return False

    def _connection(self, user: str, password: str) -> ldap3.Connection:
        tls = None if self.tls is None else _VerifiedTls(self.tls, self.host)
        server = ldap3.Server(
            self.host,
            port=self.port,
            use_ssl=self.use_ssl,
            tls=tls,
            connect_timeout=self.timeout,
            get_info=ldap3.NONE,
        )
        # ldap3 packs the receive limit as whole seconds (a float fails in struct.pack).
        receive = max(1, math.ceil(self.timeout))
        return ldap3.Connection(server, user, password, receive_timeout=receive, read_only=True)


def _canonical(attributes: dict[str, object], attribute: str, login: str) -> str:
    """The entry's value of `attribute` that is the login name but for case; else the login."""
    values = next((v for k, v in attributes.items() if k.lower() == attribute.lower()), ())
    if isinstance(values, str | bytes):
        values = [values]
    for value in values if isinstance(values, list | tuple) else ():
        text = value.decode() if isinstance(value, bytes) else str(value)
        if text.casefold() == login.casefold():
            return text
    return login


class _VerifiedTls(ldap3.Tls):
    """ldap3's TLS through our context, so that Python's own check of the server's name is
    made (ldap3's does not match IP addresses) and the name is sent (SNI)."""

    def __init__(self, context: ssl.SSLContext, hostname: str) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.context = context
        self.hostname = hostname

    def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket, do_handshake_on_connect=do_handshake, server_hostname=self.hostname
        )


def _untrusted(error: LDAPException) -> str | None:
    """Why the server's certificate was refused, if it was. ldap3 re-raises the TLS error
    mixed into its own class, or lists one per address it tried."""
    tried = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], list) else []
    errors = [error, *(t[0] for t in tried if isinstance(t, tuple) and t)]
    for refused in (e for e in errors if isinstance(e, ssl.SSLCertVerificationError)):
        text = str(refused.args[0]) if refused.args else str(refused)
        return text.rpartition("certificate verify failed: ")[2].split(" (_ssl.c")[0]
    return None
