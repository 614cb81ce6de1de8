"""Policy errors, and pydantic's validation errors turned into sentences about the file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import ErrorDetails

_TABLE_NAMES = {"modules": "module", "categories": "category"}
_KNOWN_KEYS = {
    "": ("settings", "modules", "categories", "rules"),
    "settings": ("acknowledgement_ttl", "renewal_notice"),
    "modules": ("title", "url", "valid_for"),
    "categories": ("domains", "guidance"),
    "rules": ("name", "categories", "roles_any", "training_all", "read", "write"),
}


class PolicyError(ValueError):
    """A policy file that cannot be used; `errors` lists every mistake found."""

    def __init__(self, label: str, errors: Sequence[str]) -> None:
        self.label = label
        self.errors = tuple(errors)
        super().__init__("\n".join(f"{label}: {e}" for e in self.errors))


def describe_validation_error(err: ErrorDetails, raw: Mapping[str, Any]) -> str:
    """`rule 'everyone': read: 'alow' is not one of allow, warn, block`, and the like."""
    loc = tuple(err["loc"])
    place, key = _place(loc, raw)
    reason = _reason(err, loc, key)
    return f"{place}: {reason}" if place else reason


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
        return _rule_place(rest[0], raw), _key(rest[1:])
    if table in _TABLE_NAMES:
        return f"{_TABLE_NAMES[table]} '{rest[0]}'", _key(rest[1:])
    return table, _key(rest)


def _rule_place(index: int, raw: Mapping[str, Any]) -> str:
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
