"""The policy file's tables as pydantic models, validated one section and one item at a time.

Item by item, so a broken module hides nothing about a rule elsewhere: every schema mistake
is found, and the parts that did validate are there for the reference checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from policy.decision import Action
from policy.durations import parse_duration
from policy.errors import PolicyIssue, describe_validation_error
from policy.locate import TomlPath


def _positive(span: timedelta) -> timedelta:
    if span <= timedelta(0):
        raise ValueError("must be longer than zero")
    return span


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Text = Annotated[str, Field(min_length=1)]
# An absolute IRI: a scheme, a colon, and no spaces or characters IRIs leave out.
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")


def _absolute_iri(text: str) -> str:
    if not _IRI.match(text):
        raise ValueError(
            f"{text!r} is not an absolute IRI (such as https://lms.example.org/course/view.php?id=12)"
        )
    return text


Iri = Annotated[str, AfterValidator(_absolute_iri)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SettingsTable(_Table):
    acknowledgement_ttl: PositiveDuration = timedelta(hours=8)
    renewal_notice: Duration = timedelta(days=14)
    xapi_verbs: Annotated[list[Iri], Field(min_length=1)] | None = None


class ModuleTable(_Table):
    title: Text
    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    valid_for: PositiveDuration | None = None
    xapi_activities: list[Iri] = []


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


class _Document(_Table):
    """Only the top level: which sections there are and their shapes."""

    settings: dict[str, Any] = {}
    modules: dict[str, Any] = {}
    categories: Annotated[dict[str, Any], Field(min_length=1)]
    rules: list[Any] = []


# The keys each table may have, named in "unknown key" messages: read from the models.
KNOWN_KEYS = {
    "": tuple(_Document.model_fields),
    "settings": tuple(SettingsTable.model_fields),
    "modules": tuple(ModuleTable.model_fields),
    "categories": tuple(CategoryTable.model_fields),
    "rules": tuple(RuleTable.model_fields),
}

_DOCUMENT = TypeAdapter(_Document)
_SETTINGS = TypeAdapter(SettingsTable)
_MODULE = TypeAdapter(dict[Name, ModuleTable])  # one entry at a time: the name is checked too
_CATEGORY = TypeAdapter(dict[Name, CategoryTable])
_RULE = TypeAdapter(RuleTable)


@dataclass(frozen=True, slots=True)
class RuleRefs:
    """What a rule names, from the keys that validated even if others did not."""

    index: int
    name: str | None
    categories: tuple[str, ...]
    training_all: tuple[str, ...]


@dataclass(slots=True)
class Tables:
    """The items that validated, and the names of every item the file defines."""

    settings: SettingsTable = field(default_factory=SettingsTable)
    modules: dict[str, ModuleTable] = field(default_factory=dict)
    categories: dict[str, CategoryTable] = field(default_factory=dict)
    rules: list[RuleTable] = field(default_factory=list)
    module_names: list[str] = field(default_factory=list)
    category_names: list[str] = field(default_factory=list)
    references: list[RuleRefs] = field(default_factory=list)
    broken_sections: set[str] = field(default_factory=set)  # missing, or not even a table


def validate_tables(raw: dict[str, Any]) -> tuple[Tables, list[PolicyIssue]]:
    """Every section and item of the document `raw`, each validated on its own."""
    issues: list[PolicyIssue] = []
    check = _Checker(raw, issues)
    check(_DOCUMENT, raw, ())
    sections = {key: value for key, value in raw.items() if key not in check.failed}
    tables = Tables(broken_sections={str(key) for key in check.failed})
    settings = check(_SETTINGS, sections.get("settings", {}), ("settings",))
    if settings is not None:
        tables.settings = settings
    for key, value in dict(sections.get("modules", {})).items():
        tables.module_names.append(key)
        if (module := check(_MODULE, {key: value}, ("modules",))) is not None:
            tables.modules.update(module)
    for key, value in dict(sections.get("categories", {})).items():
        tables.category_names.append(key)
        if (category := check(_CATEGORY, {key: value}, ("categories",))) is not None:
            tables.categories.update(category)
    for index, value in enumerate(list(sections.get("rules", []))):
        if (rule := check(_RULE, value, ("rules", index))) is not None:
            tables.rules.append(rule)
        if isinstance(value, dict) and "" not in check.failed:
            tables.references.append(_references(index, value, check.failed))
    return tables, issues


def _references(index: int, table: dict[str, Any], failed: set[str | int]) -> RuleRefs:
    # A key that validated is a list of names (or a name); one that did not is left out.
    def names(key: str) -> tuple[str, ...]:
        return () if key in failed else tuple(table.get(key, ()))

    name = None if "name" in failed else table.get("name")
    return RuleRefs(index, name, names("categories"), names("training_all"))


class _Checker:
    """Validates one value at `prefix` in the document, noting each mistake as an issue."""

    def __init__(self, raw: dict[str, Any], issues: list[PolicyIssue]) -> None:
        self.raw = raw
        self.issues = issues
        self.failed: set[str | int] = set()  # of the last value: the first part of each place

    def __call__[T](self, adapter: TypeAdapter[T], value: object, prefix: TomlPath) -> T | None:
        """The validated value, or None if it failed."""
        try:
            self.failed = set()
            return adapter.validate_python(value)
        except ValidationError as e:
            errors = e.errors()
        self.issues.extend(
            describe_validation_error(err, self.raw, prefix, KNOWN_KEYS) for err in errors
        )
        self.failed = {err["loc"][0] if err["loc"] else "" for err in errors}
        return None
