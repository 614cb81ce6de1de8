"""Reading a policy file: TOML, validated by pydantic, compiled into a `Policy`.

Every mistake is reported with the file, the table, the key and the reason, all at once.
"""

from __future__ import annotations

import hashlib
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from policy.decision import Action
from policy.durations import parse_duration
from policy.engine import Policy
from policy.errors import PolicyError, describe_validation_error
from policy.hosts import HostError, normalise_domain
from policy.model import Category, Module, Rule, Settings

DEFAULT_POLICY = "default_policy.toml"


def _positive(span: timedelta) -> timedelta:
    if span <= timedelta(0):
        raise ValueError("must be longer than zero")
    return span


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Text = Annotated[str, Field(min_length=1)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SettingsTable(_Table):
    acknowledgement_ttl: PositiveDuration = timedelta(hours=8)
    renewal_notice: Duration = timedelta(days=14)


class ModuleTable(_Table):
    title: Text
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    valid_for: PositiveDuration | None = None


class CategoryTable(_Table):
    domains: Annotated[list[Text], Field(min_length=1)]
    guidance: list[Text] = []


class RuleTable(_Table):
    name: Name
    categories: Annotated[list[Name], Field(min_length=1)]
    roles_any: list[Name] = []
    training_all: list[Name] = []
    read: Action
    write: Action | None = None


class PolicyFile(_Table):
    settings: SettingsTable = SettingsTable()
    modules: dict[Name, ModuleTable] = {}
    categories: Annotated[dict[Name, CategoryTable], Field(min_length=1)]
    rules: list[RuleTable] = []


def load_policy(path: Path | str) -> Policy:
    """Read, validate and compile the policy at `path`; raises PolicyError."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as e:
        raise PolicyError(path.name, [f"cannot read {path}: {e.strerror}"]) from e
    return parse_policy(content, source=str(path), label=path.name)


def load_default_policy() -> Policy:
    """The policy bundled with the package."""
    content = resources.files("policy").joinpath(DEFAULT_POLICY).read_bytes()
    return parse_policy(content, source=f"(bundled) {DEFAULT_POLICY}", label=DEFAULT_POLICY)


def default_policy_path() -> Path:
    return Path(str(resources.files("policy").joinpath(DEFAULT_POLICY)))


def parse_policy(content: bytes, *, source: str, label: str) -> Policy:
    """Compile policy `content`; `label` prefixes every error message."""
    try:
        raw = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PolicyError(label, [f"not UTF-8 text (byte {e.start})"]) from e
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(label, [f"not valid TOML: {e}"]) from e
    try:
        model = PolicyFile.model_validate(raw)
    except ValidationError as e:
        raise PolicyError(label, [describe_validation_error(err, raw) for err in e.errors()]) from e
    errors: list[str] = []
    categories = _categories(model, errors)
    _check_rules(model, errors)
    if errors:
        raise PolicyError(label, errors)
    return _compile(model, categories, source, hashlib.sha256(content).hexdigest()[:12])


def _categories(model: PolicyFile, errors: list[str]) -> dict[str, Category]:
    """Normalise every listed domain; a domain may belong to one category only."""
    owner: dict[str, str] = {}
    categories: dict[str, Category] = {}
    for name, table in model.categories.items():
        domains: list[str] = []
        for raw in table.domains:
            try:
                domain = normalise_domain(raw)
            except HostError as e:
                errors.append(f"category '{name}': domains: {e}")
                continue
            if domain in owner:
                where = "twice" if owner[domain] == name else f"also in '{owner[domain]}'"
                errors.append(f"category '{name}': domains: '{raw}' is listed {where}")
                continue
            owner[domain] = name
            domains.append(domain)
        categories[name] = Category(name, tuple(domains), tuple(table.guidance))
    return categories


def _check_rules(model: PolicyFile, errors: list[str]) -> None:
    known_categories = ", ".join(sorted(model.categories))
    known_modules = ", ".join(sorted(model.modules)) or "none"
    seen: set[str] = set()
    for rule in model.rules:
        where = f"rule '{rule.name}'"
        if rule.name in seen:
            errors.append(f"{where}: duplicate rule name")
        seen.add(rule.name)
        errors.extend(
            f"{where}: unknown category '{c}' (known: {known_categories})"
            for c in rule.categories
            if c not in model.categories
        )
        errors.extend(
            f"{where}: unknown module '{m}' in training_all (known: {known_modules})"
            for m in rule.training_all
            if m not in model.modules
        )


def _compile(
    model: PolicyFile, categories: dict[str, Category], source: str, revision: str
) -> Policy:
    modules = {
        key: Module(key, table.title, table.url, table.valid_for)
        for key, table in model.modules.items()
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
        for r in model.rules
    ]
    settings = Settings(model.settings.acknowledgement_ttl, model.settings.renewal_notice)
    return Policy(
        revision=revision,
        source=source,
        settings=settings,
        modules=modules,
        categories=categories,
        rules=rules,
    )
