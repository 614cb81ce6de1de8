"""`leeway run --proxyauth SPEC`: the sign-in check for a spec, and the stored spelling of names.

The spec is mitmproxy's (`@htpasswd`, `ldap[s]:...`, `user:pass`, `any`); the check it
makes is blocking (a bcrypt hash, a directory bind), for `addons.signin_checks` to run in a
thread. After a good password the name is looked up in the store, case-insensitively, so
that decisions use the stored username (the one `users sync` wrote): `Alice` is `alice`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mitmproxy import exceptions
from mitmproxy.addons.proxyauth import AcceptAll, Htpasswd, SingleUser, Validator
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from addons.signin import SignIn
from addons.signin_checks import Check, Outcome, SignInChecks
from proxy.metrics.counter_children import CounterChildren
from proxy.runtime.ldap_login import LdapLogin, LoginSpecError
from proxy.store.db import StoreUnavailable, session_factory, store_errors
from proxy.store.people import stored_username

logger = logging.getLogger("leeway.signin")

type NameLookup = Callable[[str], str | None]
type Mapped = Callable[[str], bool]  # is this client address in the address map?


def sign_in(
    spec: str,
    timeout: float,
    engine: Engine,
    registry: CollectorRegistry,
    mapped: Mapped,
    ca_file: Path | None = None,
) -> SignIn:
    """Leeway's proxy authentication for `spec` (clients `mapped` may skip it), counting its
    checks by outcome in `leeway_signin_checks_total` (no usernames); LoginSpecError if bad.
    `ca_file`: the CAs that sign an ldaps directory's certificate (else the system's)."""
    check = login_check(spec, timeout=timeout, names=StoredNames(engine), ca_file=ca_file)
    counter = CounterChildren.new(
        registry, "leeway_signin_checks", "Sign-in checks by outcome", ("outcome",)
    )
    for outcome in Outcome:
        counter.make(outcome.value)
    checks = SignInChecks(
        check, timeout=timeout, on_outcome=lambda outcome: counter.inc((outcome.value,))
    )
    return SignIn(checks, mapped)


def login_check(
    spec: str, *, timeout: float, names: NameLookup, ca_file: Path | None = None
) -> Check:
    """The blocking check for `spec`: the stored username for good credentials, else None.
    `LoginSpecError` (naming the problem, never a password) for a spec that cannot work."""
    if spec.startswith("ldap"):
        ldap = LdapLogin.parse(spec, timeout, ca_file)
        return _Stored(ldap, names)
    return _Stored(_Passwords(_validator(spec)), names)


def _validator(spec: str) -> Validator:
    if spec == "any":
        return AcceptAll()
    try:
        if spec.startswith("@"):
            return Htpasswd(spec)
        if ":" in spec:
            return SingleUser(spec)
    except exceptions.OptionsError as e:
        if spec.startswith("@"):  # names the file, and nothing secret
            raise LoginSpecError(str(e)) from None
    raise LoginSpecError(
        "expected @HTPASSWD_FILE, ldap[s]:..., USER:PASSWORD or any (mitmproxy's syntax)"
    )


class _Passwords:
    """A mitmproxy validator as a check: the login name as it was typed, if it passed."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    def __call__(self, username: str, password: str) -> str | None:
        return username if self.validator(username, password) else None


class _Stored:
    """A check whose names are turned into the store's spelling of them (if stored)."""

    def __init__(self, check: Check, names: NameLookup) -> None:
        self.check = check
        self.names = names

    def __call__(self, username: str, password: str) -> str | None:
        name = self.check(username, password)
        if name is None:
            return None
        return self.names(name) or name


class StoredNames:
    """The stored spelling of a username (one query, in the check's thread). While the
    store is down, the name is used as it came (logged once per outage)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._failing = False

    def __call__(self, name: str) -> str | None:
        try:
            with store_errors(self.engine.url), session_factory(self.engine)() as session:
                stored = stored_username(session, name)
        except StoreUnavailable as e:
            if not self._failing:
                logger.warning("sign-in names used as typed until the store answers: %s", e)
            self._failing = True
            return None
        self._failing = False
        return stored
