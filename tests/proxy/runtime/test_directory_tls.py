"""Tests for proxy.runtime.directory_tls: the context that trusts the directory's certificate."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from proxy.runtime.directory_tls import CaFileError, verifying_context
from tests.tls_files import make_server_certificate


def test_a_ca_file_is_the_only_trust_and_the_name_is_checked(tmp_path: Path) -> None:
    tls = make_server_certificate(tmp_path)
    context = verifying_context(tls.ca)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "Leeway test CA"),),)
    ]


def test_without_a_ca_file_the_systems_cas_are_trusted() -> None:
    context = verifying_context(None)
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.pem", None, "cannot read it: No such file or directory"),
        ("notes.txt", "not a certificate\n", "no CA certificate in it"),
        ("empty.pem", "", "no CA certificate in it"),
    ],
)
def test_an_unusable_ca_file_is_refused_naming_it(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(CaFileError) as refused:
        verifying_context(path)
    assert str(refused.value).startswith(f"{path}: {expected}")
