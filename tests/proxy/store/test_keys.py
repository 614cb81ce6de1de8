"""signing_key: one secret per name, the same for every engine and process on the database."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from proxy.store.db import StoreUnavailable, make_engine, session_factory
from proxy.store.keys import KEY_BYTES, insert_if_absent, signing_key
from proxy.store.models import SigningKey

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _count(engine: Engine) -> int:
    with session_factory(engine)() as session:
        return session.scalars(select(func.count()).select_from(SigningKey)).one()


def test_the_first_call_creates_a_random_key_and_the_next_one_reads_it(engine: Engine) -> None:
    key = signing_key(engine, now=lambda: NOW)

    assert isinstance(key, bytes) and len(key) == KEY_BYTES
    assert signing_key(engine) == key
    assert _count(engine) == 1
    with session_factory(engine)() as session:
        row = session.scalars(select(SigningKey)).one()
    assert (row.name, row.created_at) == ("acknowledgement", NOW)


def test_each_name_has_its_own_key(engine: Engine) -> None:
    assert signing_key(engine, "acknowledgement") != signing_key(engine, "session")
    assert _count(engine) == 2


def test_two_engines_on_one_database_share_the_key(db_url: str) -> None:
    first, second = make_engine(db_url), make_engine(db_url)
    try:
        assert signing_key(first) == signing_key(second)
    finally:
        first.dispose()
        second.dispose()


def test_instances_starting_at_once_agree_on_one_key(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(engines))

    def start(engine: Engine) -> bytes:
        barrier.wait()
        return signing_key(engine)

    try:
        with ThreadPoolExecutor(len(engines)) as pool:
            keys = set(pool.map(start, engines))
        assert len(keys) == 1
        assert _count(engines[0]) == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_inserting_an_existing_key_again_is_a_no_op(engine: Engine) -> None:
    key = signing_key(engine)
    values = {"name": "acknowledgement", "secret": b"x" * KEY_BYTES, "created_at": NOW}
    with session_factory(engine).begin() as session:
        session.execute(insert_if_absent(engine.dialect.name, SigningKey, values, ["name"]))
    assert signing_key(engine) == key


def test_an_unsupported_dialect_is_named() -> None:
    with pytest.raises(ValueError, match="'mysql' is not supported"):
        insert_if_absent("mysql", SigningKey, {}, ["name"])


def test_an_unreachable_database_is_store_unavailable(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'leeway.db'}")
    try:
        with pytest.raises(StoreUnavailable, match="is unavailable"):
            signing_key(engine)
    finally:
        engine.dispose()
