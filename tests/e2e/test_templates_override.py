"""`leeway run --templates DIR`: an operator's templates on the real pages, or a refusal.

A directory whose `brand.html` names the organisation shows it on the block and warning
pages a real proxy serves; a template with a mistake stops `leeway run` with exit code 1
and the file and line, before it listens.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.clients import PAGE, client
from tests.e2e.conftest import Proxies
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess, clean_environment, free_port

pytestmark = [pytest.mark.slow, pytest.mark.process]

ROOT = Path(__file__).resolve().parents[2]
BRAND = '<svg width="24" height="24" aria-hidden="true"><circle cx="12" cy="12" r="10"/></svg>'


@pytest.fixture(scope="module")
def branded_proxy(
    module_proxies: Proxies, tmp_path_factory: pytest.TempPathFactory
) -> LeewayProcess:
    directory = tmp_path_factory.mktemp("operator-templates")
    (directory / "brand.html").write_text(f"{BRAND}\nMinistry of Examples\n", encoding="utf-8")
    return module_proxies.start("--templates", str(directory))


def test_the_organisation_is_on_the_block_and_warning_pages(
    branded_proxy: LeewayProcess, https_origin: Origin
) -> None:
    url = f"https://www.facebook.com:{https_origin.port}/status"
    with client(branded_proxy) as browser_like:
        block = browser_like.post(url, headers=PAGE, content=b"status=hello")
        warn = browser_like.get(url, headers=PAGE)
    assert block.status_code == warn.status_code == 403
    assert "<title>Posting to www.facebook.com is blocked</title>" in block.text
    assert "<title>Before you continue to www.facebook.com</title>" in warn.text
    for page in (block.text, warn.text):
        assert f'<header class="brand">{BRAND}\nMinistry of Examples\n</header>' in page
    assert https_origin.requests_for("www.facebook.com") == []


def leeway_run(tmp_path: Path, templates: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "proxy.cli", "run",
        "--db-url", f"sqlite:///{tmp_path / 'leeway.db'}",
        "--listen-port", str(free_port()),
        "--metrics-port", "0",
        "--confdir", str(tmp_path / "confdir"),
        "--templates", str(templates),
    ]  # fmt: skip
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=clean_environment(),
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "text", "line", "why"),
    [
        pytest.param(
            "block.html",
            '{% extends "base.html" %}\n{% block title %}x{% endblock %}\n{% block content %\n',
            3,
            "expected token 'end of statement block'",
            id="syntax error",
        ),
        pytest.param(
            "brand.html",
            "Ministry\nof {{ organisation }}\n",
            2,
            "'organisation' is undefined",
            id="unknown variable",
        ),
        pytest.param(
            "warn.html",
            '{% extends "base.html" %}\n{% block content %}\n{{ facts.colour }}\n{% endblock %}\n',
            3,
            "no attribute 'colour'",
            id="unknown attribute",
        ),
    ],
)
def test_a_bad_template_stops_leeway_run_naming_the_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, why: str
) -> None:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / name).write_text(text, encoding="utf-8")
    result = leeway_run(tmp_path, directory)
    assert result.returncode == 1, result.stdout + result.stderr
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith(f"leeway run: templates refused: {directory / name}:{line}: ")
    assert why in message
    assert "Traceback" not in result.stderr and "listening" not in result.stdout


def test_a_missing_directory_stops_leeway_run(tmp_path: Path) -> None:
    result = leeway_run(tmp_path, tmp_path / "absent")
    assert result.returncode == 1
    assert f"templates refused: {tmp_path / 'absent'}: not a directory" in result.stderr
