"""Tests for proxy.runtime.logins: the check for each `--proxyauth` spec, stored names."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from addons.signin import SignIn
from proxy.runtime.ldap_login import LoginSpecError
from proxy.runtime.logins import StoredNames, login_check, sign_in
from proxy.store.db import make_engine
from proxy.store.people import save_user
from tests.proxy.store.test_people import NOW


def htpasswd(tmp_path: Path, **users: str) -> str:
    path = tmp_path / "htpasswd"
    salt = bcrypt.gensalt(4)
    path.write_text(
        "".join(f"{u}:{bcrypt.hashpw(p.encode(), salt).decode()}\n" for u, p in users.items())
    )
    return f"@{path}"


def no_names(name: str) -> str | None:
    return None


def test_htpasswd_checks_bcrypt(tmp_path: Path) -> None:
    check = login_check(htpasswd(tmp_path, Alice="pw"), timeout=1.0, names=no_names)
    assert check("Alice", "pw") == "Alice"
    assert check("Alice", "guess") is None
    assert check("bob", "pw") is None


def test_the_stored_spelling_is_the_name_decided_on(tmp_path: Path, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        save_user(session, "alice", NOW, {})
    check = login_check(htpasswd(tmp_path, Alice="pw"), timeout=1.0, names=StoredNames(engine))
    assert check("Alice", "pw") == "alice"


def test_the_name_as_typed_while_the_store_is_down(tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    assert StoredNames(broken)("Alice") is None
    check = login_check(htpasswd(tmp_path, Alice="pw"), timeout=1.0, names=StoredNames(broken))
    assert check("Alice", "pw") == "Alice"


def test_single_user_and_any() -> None:
    assert login_check("ann:pw", timeout=1.0, names=no_names)("ann", "pw") == "ann"
    assert login_check("ann:pw", timeout=1.0, names=no_names)("ann", "x") is None
    assert login_check("any", timeout=1.0, names=no_names)("who", "ever") == "who"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("@/no/such/htpasswd", "Could not open htpasswd file: /no/such/htpasswd"),
        ("nonsense", "expected @HTPASSWD_FILE, ldap[s]:..., USER:PASSWORD or any"),
        ("ldap:host:cn=svc:hunter2", "an LDAP sign-in is ldap[s]:HOST"),
    ],
)
def test_a_bad_spec_is_refused_clearly(spec: str, message: str) -> None:
    with pytest.raises(LoginSpecError) as raised:
        login_check(spec, timeout=1.0, names=no_names)
    assert message in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_sign_in_counts_checks_by_outcome_from_zero(tmp_path: Path, engine: Engine) -> None:
    registry = CollectorRegistry()
    addon = sign_in(htpasswd(tmp_path, ann="pw"), 1.0, engine, registry, lambda client: False)
    assert isinstance(addon, SignIn)
    for outcome in ("ok", "wrong", "timeout", "error", "throttled"):
        value = registry.get_sample_value("leeway_signin_checks_total", {"outcome": outcome})
        assert value == 0.0
    addon.done()
