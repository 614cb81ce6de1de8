"""Finding the line of a table, key or array element in a TOML text."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from policy import default_policy_path
from policy.locate import TomlPath, key_lines, line_of, toml_path
from tests.policy.samples import TEST_POLICY

TRICKY = '''\
# [[rules]] in a comment is not a table
[settings]
acknowledgement_ttl = "8h" # a comment
note = """
[[rules]]
name = "not a rule"
"""

[modules."social.basics"]
title = 'It is "quoted" \\'
url = "https://example.org/\\"x\\""

[ categories . social ]
domains = [
    "facebook.com", # first
    "x.com",
]
inline = { guidance = ["a", "b"], deep = { key = 1 } }

[[rules]]
name = "one"

[[rules]]
name = "two"
when = 1979-05-27 07:32:00Z
modules.extra.title = "dotted"

[rules.sub]
key = true
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        pytest.param(("settings", "acknowledgement_ttl"), 3, id="key"),
        pytest.param(("settings", "note"), 4, id="multi-line string"),
        pytest.param(("modules", "social.basics"), 9, id="quoted table name"),
        pytest.param(("modules", "social.basics", "url"), 11, id="after a literal string"),
        pytest.param(("categories", "social"), 13, id="spaces in a header"),
        pytest.param(("categories", "social", "domains", 1), 16, id="array element"),
        pytest.param(("categories", "social", "inline", "guidance", 1), 18, id="inline table"),
        pytest.param(("categories", "social", "inline", "deep", "key"), 18, id="nested"),
        pytest.param(("rules", 0, "name"), 21, id="first array table"),
        pytest.param(("rules", 1), 23, id="second array table"),
        pytest.param(("rules", 1, "modules", "extra", "title"), 26, id="dotted key"),
        pytest.param(("rules", 1, "sub", "key"), 29, id="sub-table of the last element"),
    ],
)
def test_each_place_is_found_on_its_line(path: TomlPath, line: int) -> None:
    tomllib.loads(TRICKY)  # the scan serves texts tomllib has read
    assert key_lines(TRICKY)[path] == line


def test_a_missing_key_is_found_at_its_table() -> None:
    lines = key_lines(TRICKY)
    assert line_of(lines, ("rules", 1, "read")) == 23
    assert line_of(lines, ("categories",)) == 13
    assert line_of(lines, ("nowhere",)) is None
    assert ("rules", 2) not in lines


def walk(value: Any, path: TomlPath = ()) -> list[TomlPath]:
    paths = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += walk(item, (*path, index))
    return paths


@pytest.mark.parametrize(
    "text", [default_policy_path().read_text(), TEST_POLICY], ids=["bundled", "test"]
)
def test_every_value_of_a_real_policy_is_located_at_a_line_naming_it(text: str) -> None:
    lines, rows = key_lines(text), text.splitlines()
    for path in walk(tomllib.loads(text)):
        row = rows[lines[path] - 1]
        last = path[-1]
        if isinstance(last, str):
            assert last in row, (path, row)
        elif not isinstance(value := _at(text, path), dict):
            assert str(value) in row, (path, row)


def _at(text: str, path: TomlPath) -> Any:
    value: Any = tomllib.loads(text)
    for part in path:
        value = value[part]
    return value


def test_text_the_scan_does_not_expect_ends_it_quietly() -> None:
    assert key_lines("[a]\nb = 1\n= 2\nd = 3\n") == {("a",): 1, ("a", "b"): 2}
    assert key_lines('[a]\nb = "never closed\n') == {("a",): 1, ("a", "b"): 2}
    assert key_lines("[a\nb = 1\n") == {}


def test_paths_are_written_as_a_reader_would() -> None:
    assert toml_path(("rules", 2, "categories", 0)) == "rules[2].categories[0]"
    assert toml_path(("modules", "a.b", "title")) == 'modules."a.b".title'
