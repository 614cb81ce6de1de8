"""The layers of Leeway, read from the source with `ast` (nothing is imported), and its sizes.

- policy/ uses only the standard library and pydantic;
- proxy/store/ uses nothing of proxy/ outside proxy.store;
- addons/ use nothing of proxy/ (so neither proxy.commands);
- the administration commands (proxy/commands/ but run.py) load no mitmproxy when imported,
  not even through the modules they import;
- proxy/runtime/serve.py never names proxy.fleet (the fleet runs serve, not the reverse);
- proxy/metrics/ never names proxy.runtime or proxy.fleet, not even for types;
- no module of addons/, migrations/, policy/ or proxy/ is over 250 lines.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("addons", "migrations", "policy", "proxy")
MAX_LINES = 250
DOTTED = re.compile(r"(addons|migrations|policy|proxy)(\.[a-z_][a-z0-9_]*)+")


@dataclass(frozen=True)
class Import:
    """One module a source file names: by an import statement, or as a dotted string."""

    path: Path  # relative to the root
    line: int
    module: str
    on_import: bool  # runs when the file is imported: not in a function, not TYPE_CHECKING

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module}"


def modules_under(root: Path) -> dict[str, Path]:
    """Our modules by dotted name: policy.engine -> policy/engine.py."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _named(node: ast.AST, package: str, ours: dict[str, Path]) -> Iterator[tuple[str, int, bool]]:
    """The modules one node names, with its line, and whether it is an import statement."""
    if isinstance(node, ast.Import):
        yield from ((alias.name, node.lineno, True) for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative: resolve against the file's package
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield (submodule if submodule in ours else base), node.lineno, True
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and DOTTED.fullmatch(node.value)
    ):
        yield node.value, node.lineno, False  # as in importlib.import_module("proxy.fleet.member")


def imports_of(path: Path, root: Path, ours: dict[str, Path]) -> list[Import]:
    relative = path.relative_to(root)
    parts = relative.with_suffix("").parts
    package = ".".join(parts if parts[-1] == "__init__" else parts[:-1])
    found: list[Import] = []

    def visit(node: ast.AST, on_import: bool) -> None:
        for module, line, is_import in _named(node, package, ours):
            found.append(Import(relative, line, module, on_import and is_import))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            on_import = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                visit(statement, False)
            for statement in node.orelse:
                visit(statement, on_import)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, on_import)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(relative)), True)
    return list(dict.fromkeys(found))  # `from m import a, b` names m once


def _root_of(module: str) -> str:
    return module.split(".")[0]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


@dataclass(frozen=True)
class Rule:
    """Files that must not name a kind of module; `transitive`: not even through ours."""

    name: str
    files: Callable[[Path], bool]
    forbidden: Callable[[str], bool]
    why: str
    # A made-up tree that breaks the rule, and exactly what the rule must say about it.
    example: dict[str, str]
    expected: tuple[str, ...]
    transitive: bool = False


def _policy_foreign(module: str) -> bool:
    allowed = {"policy", "pydantic", "pydantic_core"}
    return _root_of(module) not in allowed and _root_of(module) not in sys.stdlib_module_names


def _administration(path: Path) -> bool:
    return path.parent == Path("proxy/commands") and path.name != "run.py"


RULES = (
    Rule(
        "policy-uses-stdlib-and-pydantic",
        lambda path: path.parts[0] == "policy",
        _policy_foreign,
        "policy/ is the pure decision core: only the standard library and pydantic",
        {
            "policy/x.py": "import json\nfrom pydantic import BaseModel\n"
            "from proxy.store import db\n"
        },
        ("policy/x.py:3: proxy.store",),
    ),
    Rule(
        "store-uses-no-proxy-outside-store",
        lambda path: path.parts[:2] == ("proxy", "store"),
        lambda m: _within(m, "proxy") and not _within(m, "proxy.store"),
        "proxy/store/ is below everything else in proxy/",
        {
            "proxy/store/x.py": "from proxy.store import models\n"
            "if TYPE_CHECKING:\n    from proxy.settings import Settings\n"
        },
        ("proxy/store/x.py:3: proxy.settings",),
    ),
    Rule(
        "addons-use-no-proxy",
        lambda path: path.parts[0] == "addons",
        lambda m: _within(m, "proxy"),
        "addons get what they need from proxy/ passed in, never by importing it",
        {
            "addons/x.py": "from policy import Policy\n\n"
            "def f():\n    from proxy.commands import users\n"
        },
        ("addons/x.py:4: proxy.commands",),
    ),
    Rule(
        "administration-commands-load-no-mitmproxy",
        _administration,
        lambda m: _within(m, "mitmproxy"),
        "administration commands start fast: mitmproxy is for `leeway run` only",
        {
            "proxy/__init__.py": "",
            "proxy/helper.py": "import mitmproxy.http\n",
            "proxy/commands/x.py": "from proxy import helper\n"
            "if TYPE_CHECKING:\n    import mitmproxy.http\n\ndef f():\n    import mitmproxy\n",
            "proxy/commands/run.py": "import mitmproxy\n",
        },
        ("proxy/commands/x.py:1: proxy.helper -> proxy/helper.py:1: mitmproxy.http",),
        transitive=True,
    ),
    Rule(
        "serve-never-names-fleet",
        lambda path: path == Path("proxy/runtime/serve.py"),
        lambda m: _within(m, "proxy.fleet"),
        "the fleet runs the lone proxy's serve, never the reverse (no serve <-> worker loop)",
        {
            "proxy/runtime/serve.py": "import importlib\n\ndef f():\n"
            '    return importlib.import_module("proxy.fleet.member")\n'
        },
        ("proxy/runtime/serve.py:4: proxy.fleet.member",),
    ),
    Rule(
        "metrics-use-no-runtime",
        lambda path: path.parts[:2] == ("proxy", "metrics"),
        lambda m: _within(m, "proxy.runtime") or _within(m, "proxy.fleet"),
        "the metrics are below what runs: they say what they read as protocols of their own",
        {
            "proxy/metrics/x.py": "from proxy.store import db\n"
            "if TYPE_CHECKING:\n    from proxy.runtime.entitlement_cache import CacheStats\n"
        },
        ("proxy/metrics/x.py:3: proxy.runtime.entitlement_cache",),
    ),
)


def violations(rule: Rule, root: Path) -> list[str]:
    """Each forbidden import as `file:line: module`, with the chain that led to it."""
    ours = modules_under(root)
    parsed = {name: imports_of(path, root, ours) for name, path in ours.items()}
    found: list[str] = []
    for name, path in ours.items():
        if rule.files(path.relative_to(root)):
            chains = _walk(rule, name, parsed, ours, [], set())
            # Through our modules, one chain per file says enough (there would be dozens).
            found.extend(list(chains) if not rule.transitive else list(chains)[:1])
    return found


def _walk(
    rule: Rule,
    name: str,
    parsed: dict[str, list[Import]],
    ours: dict[str, Path],
    chain: list[Import],
    seen: set[str],
) -> Iterator[str]:
    seen.add(name)
    for imported in parsed[name]:
        if chain and not imported.on_import:
            continue  # only what runs on import carries a dependency further
        if rule.forbidden(imported.module):
            if not rule.transitive or imported.on_import:
                yield " -> ".join(str(step) for step in [*chain, imported])
        elif rule.transitive and imported.on_import:
            for target in _ours_loaded_by(imported.module, ours):
                if target not in seen:
                    yield from _walk(rule, target, parsed, ours, [*chain, imported], seen)


def _ours_loaded_by(module: str, ours: dict[str, Path]) -> list[str]:
    """Importing a.b.c runs a/__init__.py, a/b/__init__.py and a/b/c.py."""
    parts = module.split(".")
    return [n for n in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if n in ours]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_the_layers_hold(rule: Rule) -> None:
    found = violations(rule, ROOT)
    assert not found, f"{rule.name} ({rule.why}):\n" + "\n".join(found)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_each_rule_finds_what_breaks_it(rule: Rule, tmp_path: Path) -> None:
    for name, text in rule.example.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert violations(rule, tmp_path) == list(rule.expected)


def test_no_module_is_over_the_line_limit() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in modules_under(ROOT).values()
    }
    over = [f"{p}: {n} lines" for p, n in sorted(lengths.items()) if n > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(over)
