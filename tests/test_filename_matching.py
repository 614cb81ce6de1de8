"""Every module has a test file of the same name, at the same place under tests/.

proxy/runtime/serve.py -> tests/proxy/runtime/test_serve.py, policy/engine.py ->
tests/policy/test_engine.py. A module tested elsewhere is listed in COVERED_ELSEWHERE with the
test file that covers it (which must exist). As mitmproxy's CI does (test/filename_matching.py).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("addons", "migrations", "policy", "proxy")
WORKERS = "tests/e2e/test_workers.py"
# Module -> the test file that covers it, for modules whose mirror would say less.
COVERED_ELSEWHERE = {
    "addons/forms.py": "tests/addons/test_acknowledge.py",
    "addons/protocols.py": "tests/addons/test_context.py",
    "addons/respond.py": "tests/addons/test_enforce.py",
    "migrations/env.py": "tests/proxy/store/test_migrate.py",
    "policy/decision.py": "tests/policy/test_engine.py",
    "policy/durations.py": "tests/policy/test_loader.py",
    "policy/errors.py": "tests/policy/test_loader.py",
    "policy/model.py": "tests/policy/test_loader.py",
    "policy/subject.py": "tests/policy/test_engine.py",
    "policy/tables.py": "tests/policy/test_loader.py",
    "proxy/commands/pac.py": "tests/proxy/test_pac.py",
    "proxy/audit/limits.py": "tests/proxy/audit/test_trail.py",
    "proxy/commands/flags.py": "tests/proxy/commands/test_run.py",
    "proxy/commands/training_sync.py": "tests/proxy/lrs/test_sync.py",
    "proxy/commands/users_sync.py": "tests/proxy/directory/test_sync.py",
    "proxy/directory/plan.py": "tests/proxy/directory/test_sync.py",
    "proxy/csvimport/reader.py": "tests/proxy/commands/test_users.py",
    "proxy/fleet/launch.py": WORKERS,
    "proxy/fleet/member.py": WORKERS,
    "proxy/fleet/supervisor.py": WORKERS,
    "proxy/lrs/client.py": "tests/proxy/lrs/test_sync.py",
    "proxy/lrs/cursor.py": "tests/proxy/lrs/test_sync.py",
    "proxy/lrs/settings.py": "tests/proxy/lrs/test_sync.py",
    "proxy/reports/format.py": "tests/proxy/commands/test_report.py",
    "proxy/reports/queries.py": "tests/proxy/reports/test_build.py",
    "proxy/runtime/startup.py": "tests/proxy/runtime/test_serve.py",
    "proxy/setting_defaults.py": "tests/proxy/test_settings.py",
    "proxy/store/access_event.py": "tests/proxy/store/test_events.py",
    "proxy/store/db.py": "tests/proxy/store/test_migrate.py",
    "proxy/store/directory.py": "tests/proxy/directory/test_sync.py",
    "proxy/store/models.py": "tests/proxy/store/test_migrate.py",
    "proxy/store/xapi.py": "tests/proxy/lrs/test_sync.py",
}


def excluded(path: Path) -> bool:
    """Package markers, and migration steps (tests/proxy/store/test_migrate.py runs them all)."""
    return path.name == "__init__.py" or path.parts[:2] == ("migrations", "versions")


def mirror(path: Path) -> Path:
    return Path("tests", *path.parts[:-1], f"test_{path.name}")


def modules() -> list[Path]:
    found = (p.relative_to(ROOT) for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    return sorted(path for path in found if not excluded(path))


def test_every_module_has_its_mirrored_test_file() -> None:
    missing = [
        f"{path}: no {mirror(path)}"
        for path in modules()
        if str(path) not in COVERED_ELSEWHERE and not (ROOT / mirror(path)).is_file()
    ]
    assert not missing, "add the test file, or name the one that covers it:\n" + "\n".join(missing)


def _stale(module: str, covering: str, known: set[str]) -> str | None:
    if module not in known:
        return f"{module}: no such module (renamed or gone?)"
    if (ROOT / mirror(Path(module))).is_file():
        return f"{module}: it has {mirror(Path(module))} now: take it out of the list"
    if not (ROOT / covering).is_file():
        return f"{module}: the test file named for it, {covering}, does not exist"
    return None


def test_what_is_covered_elsewhere_names_real_files() -> None:
    known = {str(path) for path in modules()}
    stale = [_stale(module, covering, known) for module, covering in COVERED_ELSEWHERE.items()]
    wrong = [problem for problem in stale if problem is not None]
    assert not wrong, "COVERED_ELSEWHERE is out of date:\n" + "\n".join(wrong)
