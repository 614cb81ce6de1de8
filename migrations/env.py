"""Alembic's entry point: runs `versions/` against the connection or URL it is given.

`proxy.store.migrate` builds the configuration; `alembic.ini` is for developers only.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import TYPE_CHECKING, Any

from alembic import context
from sqlalchemy import create_engine, pool

from proxy.store.db import make_engine, normalise_url
from proxy.store.models import Base

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

config = context.config
# Only `alembic check` and autogenerate compare against the models; the migration
# scripts themselves never import them.
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or pass a connection")
    return url


def _engine(url: str) -> Engine:
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return make_engine(parsed)
    # Migrations on SQLite run in one real transaction (autocommit=False makes DDL
    # transactional) with foreign keys left off, SQLite's default: batch mode rebuilds a
    # table by dropping it, which would cascade-delete the rows of every child table.
    return create_engine(parsed, connect_args={"autocommit": False}, poolclass=pool.NullPool)


def _configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
    }


def _in_strict_sqlite_transaction(connection: Connection) -> bool:
    driver = connection.connection.driver_connection
    return connection.dialect.name == "sqlite" and getattr(driver, "autocommit", None) is False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        transactional_ddl=_in_strict_sqlite_transaction(connection) or None,
        **_configure_options(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            _check_foreign_keys(connection)


def _check_foreign_keys(connection: Connection) -> None:
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"migration left rows with dangling foreign keys: {problems[:5]}")


def run_migrations_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = _engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    url = normalise_url(_url())
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options(url.get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


if config.config_file_name is not None:  # alembic.ini, run by hand
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
