"""What every `leeway` subcommand shares: the context, refused input, the store's readiness.

A handler takes the parsed arguments and a `Context` and returns the exit code; it raises
`CommandError` to refuse its input.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import exc
from sqlalchemy.orm import Session

from policy import Policy, load_policy
from proxy.commands.flags import add_setting_flags
from proxy.csvimport.rows import RowError, Tally, parse_timestamp
from proxy.store import migrate
from proxy.store.db import make_engine, mask_url, normalise_url, store_errors
from proxy.store.people import user_id

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from proxy.settings import Settings

type Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
BACKENDS = frozenset({"sqlite", "postgresql"})
URL_EXAMPLES = "e.g. sqlite:///leeway.db or postgresql://user:password@host/leeway"


class CommandError(Exception):
    """Input the command refuses: the message goes to stderr and the exit code is 1."""


class Context:
    """Settings, output streams, and the policy and store, opened on first use."""

    def __init__(self, settings: Settings, out: TextIO, err: TextIO) -> None:
        self.settings = settings
        self.out = out
        self.err = err
        self._policy: Policy | None = None
        self._engine: Engine | None = None

    def policy(self) -> Policy:
        """The policy named by the settings, or the bundled one; `PolicyError` if it is bad."""
        if self._policy is None:
            self._policy = load_policy(self.settings.policy)
        return self._policy

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = open_store(self.settings.db_url)
        return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in a transaction, committed when the block ends without an error."""
        engine = self.engine()
        with store_errors(engine.url), Session(engine) as session, session.begin():
            yield session

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def open_store(url: str) -> Engine:
    """An engine on a database at the head revision: SQLite is migrated, PostgreSQL checked."""
    backend = check_url(url)
    engine = make_engine(url)
    try:
        _make_ready(url, backend)
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_url(url: str) -> str:
    """The backend (`sqlite`, `postgresql`) of `url`, or a refusal saying what is wrong."""
    try:
        parsed = normalise_url(url)
    except exc.ArgumentError as e:
        # Not echoed: an unparseable URL may still hold a password.
        raise CommandError(f"bad database URL: {e} ({URL_EXAMPLES})") from None
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise CommandError(
            f"database URL {mask_url(url)!r}: {backend} is not supported (use SQLite or"
            f" PostgreSQL, {URL_EXAMPLES})"
        )
    try:
        parsed.get_dialect().import_dbapi()
    except (exc.ArgumentError, ImportError) as e:
        raise CommandError(f"database URL {mask_url(url)!r}: driver not available: {e}") from None
    return backend


def _make_ready(url: str, backend: str) -> None:
    # SQLite is the embedded default: nobody else migrates it. A server database is shared
    # and migrated deliberately, so a command only checks it.
    if backend == "sqlite":
        migrate.upgrade(url)
    elif migrate.current(url) != migrate.head():
        raise CommandError(f"database {mask_url(url)} is not migrated: run `leeway db upgrade`")


def now() -> datetime:
    return datetime.now(UTC)


def option_time(value: str | None, option: str, default: datetime) -> datetime:
    """The ISO 8601 value of `option` as UTC, or `default` when the option was not given."""
    if value is None:
        return default
    try:
        return parse_timestamp(value, option)
    except ValueError as e:
        raise CommandError(str(e)) from None


def refuse_bad_rows(
    context: Context, label: str, errors: list[RowError], tally: Tally, *, skip_invalid: bool
) -> None:
    """Report every bad row on stderr; unless `skip_invalid`, refuse the whole file."""
    for error in errors:
        print(error.describe(label), file=context.err)
    if errors and not skip_invalid:
        rows = "row" if len(errors) == 1 else "rows"
        raise CommandError(
            f"{label}: {len(errors)} bad {rows} of {tally.read}: nothing imported"
            " (fix them, or import the good rows with --skip-invalid)"
        )
    tally.skipped = len(errors)


def require_user(session: Session, username: str) -> int:
    """The id of `username`, or a refusal telling how to add them."""
    found = user_id(session, username)
    if found is None:
        raise CommandError(
            f"unknown user {username!r}: add them with `leeway users add {username}`"
        )
    return found


def require_module(policy: Policy, module: str) -> None:
    if module not in policy.modules:
        known = ", ".join(sorted(policy.modules)) or "none"
        raise CommandError(f"unknown module {module!r} (known: {known})")


def options(
    *, store: bool = False, policy: bool = False, operator: bool = False
) -> argparse.ArgumentParser:
    """A parent parser with the shared options a command takes (see `add_setting_flags`)."""
    parent = argparse.ArgumentParser(add_help=False)
    chosen = {"db_url": store, "policy": policy, "operator": operator}
    add_setting_flags(parent, [name for name, wanted in chosen.items() if wanted])
    return parent
