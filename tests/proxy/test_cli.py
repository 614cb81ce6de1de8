"""The real `leeway` process end to end: exit codes 0, 1 and 2, and what lands on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process
ROOT = Path(__file__).resolve().parents[2]


def leeway(*args: str, cwd: Path, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    env["PYTHONPATH"] = str(ROOT)
    extra = ["--db-url", db_url] if db_url else []
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli", *args, *extra],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_session_of_commands(db_url: str, tmp_path: Path) -> None:
    lms = tmp_path / "lms.csv"
    lms.write_text("username,module,completed_at\nalice,social-media-basics,2025-06-01\n")
    steps = [
        ["users", "add", "alice", "--department", "Comms"],
        ["training", "import", str(lms)],
        ["grants", "add", "alice", "comms-publisher", "--reason", "newsroom"],
        ["addresses", "add", "10.0.0.0/24", "alice"],
    ]
    for step in steps:
        done = leeway(*step, cwd=tmp_path, db_url=db_url)
        assert (done.returncode, done.stderr) == (0, ""), step
    done = leeway(
        "explain",
        "alice",
        "facebook.com",
        "--at",
        "2025-09-01",
        "--json",
        cwd=tmp_path,
        db_url=db_url,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert (document["action"], document["rule"]) == ("allow", "social-trained-staff")


def test_refused_input_exits_1_with_one_clear_line(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "users.csv"
    bad.write_text("username,display_name,department\nalice,A,HR\nbob,B,<HR>\n")
    done = leeway("users", "import", str(bad), cwd=tmp_path, db_url=db_url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines()[0].startswith("users.csv: line 3: bad department '<HR>'")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no command"),
        pytest.param(["users"], id="no subcommand"),
        pytest.param(["grants", "add", "alice"], id="missing argument"),
        pytest.param(["users", "add", "alice", "--colour", "red"], id="unknown option"),
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    done = leeway(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: leeway")
    assert not (tmp_path / "leeway.db").exists()


def test_the_default_database_is_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    done = leeway("users", "add", "alice", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "user alice: created\n")
    assert (tmp_path / "leeway.db").exists()


def test_help_exits_0(tmp_path: Path) -> None:
    done = leeway("training", "import", "--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "--create-users" in done.stdout
    assert "--skip-invalid" in done.stdout


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    env["PYTHONPATH"] = str(ROOT)
    policy = str(ROOT / "policy" / "default_policy.toml")
    with subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "policy", "check", policy],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader is gone before the first line, like `| true`
        errors = process.stderr.read()
        process.wait(timeout=60)
    assert b"Traceback" not in errors, errors.decode()
    assert process.returncode == 0


# Runs each command line given as a JSON argument in one interpreter, then names the first
# one after which mitmproxy (seconds to import) has been loaded.
ADMIN_SESSION = """
import json, sys
import proxy.cli
proxy.cli.build_parser()
for argv in [[]] + json.loads(sys.argv[1]):
    code = proxy.cli.main(argv) if argv else 0
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] == "mitmproxy")
    if code != 0 or loaded:
        sys.exit(f"leeway {' '.join(argv) or '(parser only)'}: exit {code}, loaded {loaded[:3]}")
"""


def test_administration_commands_do_not_import_mitmproxy(tmp_path: Path) -> None:
    lms = tmp_path / "lms.csv"
    lms.write_text("username,module,completed_at\nalice,social-media-basics,2025-06-01\n")
    policy = str(ROOT / "policy" / "default_policy.toml")
    db = ["--db-url", f"sqlite:///{tmp_path / 'leeway.db'}"]
    session = [
        ["--help"],
        ["policy", "check", policy],
        ["users", "add", "alice", "--department", "Comms", *db],
        ["training", "import", str(lms), *db],
        ["grants", "add", "alice", "comms-publisher", "--reason", "newsroom", *db],
        ["explain", "alice", "facebook.com", "--json", *db],
        ["report", "--format", "json", *db],
        ["audit", "user", "alice", *db],
        ["pac", "--proxy", "proxy.example.org:8080", "--output", str(tmp_path / "p.pac")],
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEEWAY_")}
    done = subprocess.run(
        [sys.executable, "-c", ADMIN_SESSION, json.dumps(session)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
