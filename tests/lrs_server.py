"""A real learning record store for tests: Ralph, in a virtual environment of its own.

Ralph's pins must not touch the project's, so it lives in a venv outside the checkout
(`~/.cache/leeway-test/ralph-venv`, or `LEEWAY_TEST_RALPH_VENV`), made on first use and
reused. Statements reach it as an LMS sends them: POSTed over HTTP, never written into its
files (`ralph_shim` only lets its file backend take more than one POST). Ralph's file
backend pages at `RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT` (100 by default) and compares
`since` with `timestamp` rather than `stored`: statements posted here carry no timestamp,
so Ralph sets it to `stored`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

VENV_VARIABLE = "LEEWAY_TEST_RALPH_VENV"
DEFAULT_VENV = Path.home() / ".cache" / "leeway-test" / "ralph-venv"
RALPH_PACKAGES = ("ralph-malph[cli,lrs,backend-fs]", "requests")
USER, PASSWORD = "lms", "lms-secret-password"
LMS = "mailto:lms@example.org"  # the agent of USER's statements
LEARNER, LEARNER_PASSWORD = "learner", "learner-secret-password"
LEARNS = "mailto:learner@example.org"  # the agent of LEARNER's statements
SHIM = Path(__file__).parent / "ralph_shim"  # see its docstring: Ralph's file backend appends
PAGE_SIZE = 100  # Ralph's default, set explicitly so the paging tests know it
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def ralph_venv() -> Path:
    """The venv with Ralph in it, installed if it is not there yet."""
    venv = Path(os.environ.get(VENV_VARIABLE) or DEFAULT_VENV)
    if not (venv / "bin" / "ralph").exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", *RALPH_PACKAGES]
        subprocess.run(pip, check=True)
    return venv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ralph:
    """One Ralph LRS on 127.0.0.1, its statements in `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    page_size: int = PAGE_SIZE  # the most statements Ralph answers in one page
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/xAPI"

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "RALPH_APP_DIR": str(self.directory / "app"),
            "RALPH_AUTH_FILE": str(self.directory / "auth.json"),
            "RALPH_RUNSERVER_BACKEND": "fs",
            "RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT": str(self.page_size),
            "PYTHONPATH": str(SHIM),
        }

    def setup(self) -> None:
        """Two accounts: the LMS's, and a learner's (as a cmi5 course in the browser gets)."""
        ralph = str(ralph_venv() / "bin" / "ralph")
        for user, password, agent in ((USER, PASSWORD, LMS), (LEARNER, LEARNER_PASSWORD, LEARNS)):
            auth = [ralph, "auth", "-u", user, "-p", password, "-s", "all", "-M", agent, "-w"]
            subprocess.run(auth, check=True, env=self.environment(), capture_output=True)

    def start(self) -> None:
        ralph = str(ralph_venv() / "bin" / "ralph")
        command = [ralph, "runserver", "-b", "fs"]
        command += ["--fs-default-directory-path", str(self.directory / "data")]
        command += ["-h", "127.0.0.1", "-p", str(self.port)]
        with (self.directory / "ralph.log").open("ab") as log:
            # A session of its own: uvicorn's reloader starts a child, stopped with it.
            self.process = subprocess.Popen(
                command, env=self.environment(), stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Ralph did not start: see {self.directory / 'ralph.log'}")
            time.sleep(0.2)

    def answers(self) -> bool:
        """Whether Ralph answers at all (its heartbeat needs no credentials)."""
        try:
            response = httpx.get(
                f"http://127.0.0.1:{self.port}/__heartbeat__", timeout=2, trust_env=False
            )
        except httpx.HTTPError:
            return False
        return response.status_code < 500

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this fixture started
            self.process.wait(timeout=30)
        self.process = None

    def post(
        self,
        statements: list[dict[str, Any]],
        batch: int = 500,
        account: tuple[str, str] = (USER, PASSWORD),
    ) -> None:
        """Send statements as an LMS would (or as `account`), in batches (xAPI takes a JSON
        array); the LRS makes the account's agent their `authority`."""
        with httpx.Client(
            auth=account,
            headers={"X-Experience-API-Version": "1.0.3"},
            trust_env=False,
            timeout=600,  # Ralph's file backend reads every statement on each POST
        ) as client:
            for start in range(0, len(statements), batch):
                response = client.post(
                    f"{self.url}/statements/", json=statements[start : start + batch]
                )
                response.raise_for_status()


def statement(
    email: str | None,
    activity: str,
    verb: str = COMPLETED,
    *,
    result: dict[str, Any] | None = None,
    actor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A statement with a fresh id, as an LMS sends it."""
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": actor or {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {"objectType": "Activity", "id": activity},
    }
    if result is not None:
        body["result"] = result
    return body


def voiding(target_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lms@example.org"},
        "verb": {"id": VOIDED, "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target_id},
    }
