"""A service's password: the file's first line, else the variable's value, else none."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from proxy.passwords import read_password

if TYPE_CHECKING:
    from pathlib import Path


def test_the_file_comes_first_and_only_its_first_line_counts(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret with spaces \nsecond line\n", encoding="utf-8")
    assert read_password(secret, SecretStr("from-env"), "LRS password") == "s3cret with spaces "


def test_an_empty_file_is_an_empty_password(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("", encoding="utf-8")
    assert read_password(empty, None, "LRS password") == ""


def test_without_a_file_the_variable_then_nothing() -> None:
    assert read_password(None, SecretStr("from-env"), "LRS password") == "from-env"
    assert read_password(None, None, "LRS password") is None


def test_an_unreadable_file_is_named_without_its_contents(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^cannot read the bind password file .*nope: No such"):
        read_password(tmp_path / "nope", SecretStr("from-env"), "bind password")
