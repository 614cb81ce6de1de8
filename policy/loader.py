"""Reading a policy file: TOML, validated by pydantic, compiled into a `Policy`.

Every mistake is reported at once, in file order, each with the file, the place, the line
and the reason: schema mistakes and references to unknown names alike.
"""

from __future__ import annotations

import codecs
import hashlib
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from policy.engine import Policy
from policy.errors import PolicyError, PolicyIssue, rule_place
from policy.hosts import HostError, normalise_domain
from policy.locate import TomlPath, key_lines, line_of
from policy.model import XAPI_DEFAULT_VERBS, Category, Module, Rule, Settings
from policy.tables import Tables, validate_tables

DEFAULT_POLICY = "default_policy.toml"


def load_policy(path: Path | str | None) -> Policy:
    """Read, validate and compile the policy at `path`, or the bundled one when `path` is
    None; raises PolicyError. The one way a policy is loaded: by `leeway run` at start and
    on a reload, by its workers and by every command."""
    if path is None:
        content = resources.files("policy").joinpath(DEFAULT_POLICY).read_bytes()
        return parse_policy(content, source=f"(bundled) {DEFAULT_POLICY}", label=DEFAULT_POLICY)
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as e:
        raise PolicyError(path.name, [f"cannot read {path}: {e.strerror}"]) from e
    return parse_policy(content, source=str(path), label=path.name)


def load_default_policy() -> Policy:
    """The policy bundled with the package: `load_policy(None)`."""
    return load_policy(None)


def default_policy_path() -> Path:
    return Path(str(resources.files("policy").joinpath(DEFAULT_POLICY)))


def parse_policy(content: bytes, *, source: str, label: str) -> Policy:
    """Compile policy `content`; `label` prefixes every error message."""
    text = _decode(content, label)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(label, [f"not valid TOML: {e}"]) from e
    tables, issues = validate_tables(raw)
    categories = _categories(tables, issues)
    _check_references(tables, raw, issues)
    _check_activities(tables, issues)
    if issues:
        raise PolicyError(label, _in_file_order(issues, text))
    return _compile(tables, categories, source, hashlib.sha256(content).hexdigest()[:12])


def _decode(content: bytes, label: str) -> str:
    """The text, without the byte-order mark that some editors (Notepad) put first."""
    bom = len(codecs.BOM_UTF8) if content.startswith(codecs.BOM_UTF8) else 0
    try:
        return content[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = bom + e.start
        line = content[:offset].count(b"\n") + 1
        reason = f"not UTF-8 text: byte 0x{content[offset]:02x} at offset {offset}"
        raise PolicyError(label, [PolicyIssue("", reason, line=line)]) from None


def _in_file_order(issues: list[PolicyIssue], text: str) -> list[PolicyIssue]:
    lines = key_lines(text)
    located = [replace(issue, line=line_of(lines, issue.path)) for issue in issues]
    return sorted(located, key=lambda issue: issue.line or 0)  # stable: same line, found order


def _categories(tables: Tables, issues: list[PolicyIssue]) -> dict[str, Category]:
    """Normalise every listed domain; a domain may belong to one category only."""
    owner: dict[str, str] = {}
    categories: dict[str, Category] = {}
    for name, table in tables.categories.items():
        domains: list[str] = []
        for index, raw in enumerate(table.domains):
            where = ("categories", name, "domains", index)
            try:
                domain = normalise_domain(raw)
            except HostError as e:
                issues.append(PolicyIssue(f"category '{name}'", f"domains: {e}", where))
                continue
            if domain in owner:
                also = "twice" if owner[domain] == name else f"also in '{owner[domain]}'"
                reason = f"domains: '{raw}' is listed {also}"
                issues.append(PolicyIssue(f"category '{name}'", reason, where))
                continue
            owner[domain] = name
            domains.append(domain)
        categories[name] = Category(name, tuple(domains), tuple(table.guidance))
    return categories


def _check_references(tables: Tables, raw: dict[str, Any], issues: list[PolicyIssue]) -> None:
    """Rule names are unique, and rules name categories and modules the file defines.

    A name whose table is defined but broken counts as known: its own mistakes are reported,
    and an "unknown module" on top would send the reader looking for a typo that is not there.
    For the same reason nothing is checked against a section that is missing or not a table.
    """
    known_categories = ", ".join(sorted(tables.category_names)) or "none"
    known_modules = ", ".join(sorted(tables.module_names)) or "none"
    seen: set[str] = set()
    for rule in tables.references:
        place, at = rule_place(rule.index, raw), ("rules", rule.index)
        if rule.name is not None and rule.name in seen:
            issues.append(PolicyIssue(place, "duplicate rule name", (*at, "name")))
        seen.add(rule.name or "")
        if "categories" not in tables.broken_sections:
            issues.extend(
                PolicyIssue(place, f"unknown category '{c}' (known: {known_categories})", path)
                for path, c in _named(at, "categories", rule.categories)
                if c not in tables.category_names
            )
        if "modules" not in tables.broken_sections:
            issues.extend(
                PolicyIssue(
                    place, f"unknown module '{m}' in training_all (known: {known_modules})", path
                )
                for path, m in _named(at, "training_all", rule.training_all)
                if m not in tables.module_names
            )


def _check_activities(tables: Tables, issues: list[PolicyIssue]) -> None:
    """An xAPI activity counts for one module only: listed twice, which would it complete?"""
    owner: dict[str, str] = {}
    for name, table in tables.modules.items():
        for index, iri in enumerate(table.xapi_activities):
            if iri in owner:
                also = "twice" if owner[iri] == name else f"also in module '{owner[iri]}'"
                where = ("modules", name, "xapi_activities", index)
                issues.append(
                    PolicyIssue(
                        f"module '{name}'", f"xapi_activities: '{iri}' is listed {also}", where
                    )
                )
                continue
            owner[iri] = name


def _named(at: TomlPath, key: str, names: tuple[str, ...]) -> list[tuple[TomlPath, str]]:
    return [((*at, key, index), name) for index, name in enumerate(names)]


def _compile(tables: Tables, categories: dict[str, Category], source: str, revision: str) -> Policy:
    modules = {
        key: Module(key, table.title, table.url, table.valid_for, tuple(table.xapi_activities))
        for key, table in tables.modules.items()
    }
    rules = [
        Rule(
            name=r.name,
            categories=tuple(r.categories),
            read=r.read,
            write=r.write if r.write is not None else r.read,
            training_all=tuple(modules[m] for m in r.training_all),
            roles_any=tuple(r.roles_any),
        )
        for r in tables.rules
    ]
    verbs = tables.settings.xapi_verbs
    settings = Settings(
        tables.settings.acknowledgement_ttl,
        tables.settings.renewal_notice,
        tuple(verbs) if verbs is not None else XAPI_DEFAULT_VERBS,
    )
    return Policy(
        revision=revision,
        source=source,
        settings=settings,
        modules=modules,
        categories=categories,
        rules=rules,
    )
