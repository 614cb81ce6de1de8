"""Policy errors, and pydantic's validation errors turned into sentences about the file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import ErrorDetails

from policy.locate import TomlPath, toml_path

_TABLE_NAMES = {"modules": "module", "categories": "category"}
_KNOWN_KEYS = {
    "": ("settings", "modules", "categories", "rules"),
    "settings": ("acknowledgement_ttl", "renewal_notice", "xapi_verbs"),
    "modules": ("title", "url", "valid_for", "xapi_activities"),
    "categories": ("domains", "guidance"),
    "rules": ("name", "categories", "roles_any", "training_all", "read", "write"),
}


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One mistake: where (`rule 'x'`; empty for the whole file), why, and where in the text."""

    place: str
    reason: str
    path: TomlPath = ()
    line: int | None = None

    def describe(self, label: str) -> str:
        """`policy.toml: rule 'x': read: 'alow' is not one of ... (line 9, rules[0].read)`."""
        text = f"{label}: {self.place}: {self.reason}" if self.place else f"{label}: {self.reason}"
        if self.line is None:
            return text
        where = f"line {self.line}, {toml_path(self.path)}" if self.path else f"line {self.line}"
        return f"{text} ({where})"


class PolicyError(ValueError):
    """A policy file that cannot be used; `errors` lists every mistake found, in file order."""

    def __init__(self, label: str, errors: Sequence[PolicyIssue | str]) -> None:
        self.label = label
        self.errors = tuple(e if isinstance(e, PolicyIssue) else PolicyIssue("", e) for e in errors)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per mistake, each naming the file."""
        return [issue.describe(self.label) for issue in self.errors]


def describe_validation_error(
    err: ErrorDetails, raw: Mapping[str, Any], prefix: TomlPath = ()
) -> PolicyIssue:
    """`rule 'everyone'` / `read: 'alow' is not one of allow, warn, block`, and the like.

    `raw` is the whole document; `prefix` is where the validated value sits in it.
    """
    loc = prefix + tuple(err["loc"])
    place, key = _place(loc, raw)
    path = loc[:-1] if loc and loc[-1] == "[key]" else loc
    return PolicyIssue(place, _reason(err, loc, key), path)


def _place(loc: tuple[int | str, ...], raw: Mapping[str, Any]) -> tuple[str, str]:
    """Where in the file (`rule 'x'`, `module 'y'`, `[settings]`) and the key concerned."""
    if not loc:
        return "", ""
    table, rest = str(loc[0]), loc[1:]
    if len(loc) == 1:
        return "", table
    if table == "settings":
        return "[settings]", str(rest[0])
    if table == "rules" and isinstance(rest[0], int):
        return rule_place(rest[0], raw), _key(rest[1:])
    if table in _TABLE_NAMES:
        return f"{_TABLE_NAMES[table]} '{rest[0]}'", _key(rest[1:])
    return table, _key(rest)


def rule_place(index: int, raw: Mapping[str, Any]) -> str:
    """`rule 'name'` when the rule has a name of some sort, else `rule #3`."""
    rules = raw.get("rules")
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        name = rules[index].get("name")
        if isinstance(name, str) and name:
            return f"rule '{name}'"
    return f"rule #{index + 1}"


def _key(rest: tuple[int | str, ...]) -> str:
    named = [str(part) for part in rest if not isinstance(part, int)]
    return named[0] if named else ""


def _reason(err: ErrorDetails, loc: tuple[int | str, ...], key: str) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        table = str(loc[0]) if len(loc) > 1 else ""
        known = ", ".join(_KNOWN_KEYS.get(table, ()))
        what = "table" if len(loc) == 1 else "key"
        return f"unknown {what} '{loc[-1]}' (known: {known})"
    if kind == "missing":
        return f"missing required key '{key}'"
    if key == "[key]":
        return f"bad name {loc[1]!r}: use lower-case letters, digits, '-', '_' or '.'"
    prefix = f"{key}: " if key else ""
    if kind == "enum":
        return f"{prefix}{value!r} is not one of allow, warn, block"
    if kind == "string_pattern_mismatch":
        expected = "an http:// or https:// address" if key == "url" else _NAME_RULE
        return f"{prefix}{value!r} is not {expected}"
    if kind == "value_error":
        return prefix + str(err["msg"]).removeprefix("Value error, ")
    return f"{prefix}{err['msg'][:1].lower()}{err['msg'][1:]} (got {value!r})"


_NAME_RULE = "a valid name (lower-case letters, digits, '-', '_' or '.')"
