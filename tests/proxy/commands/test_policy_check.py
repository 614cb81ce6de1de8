"""`leeway policy check FILE`: a summary of a good policy, every mistake of a bad one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy import default_policy_path, load_default_policy
from proxy.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

GOOD = """
[modules.basics]
title = "Basics"
url = "https://learning.example.org/basics"
valid_for = "365d"

[modules.video]
title = "Video"
url = "https://learning.example.org/video"

[categories.social]
domains = ["facebook.com", "x.com"]

[categories.rich-media]
domains = ["youtube.com"]

[[rules]]
name = "trained"
categories = ["social", "rich-media"]
training_all = ["basics"]
roles_any = ["publisher", "editor"]
read = "allow"

[[rules]]
name = "everyone"
categories = ["social"]
read = "warn"
write = "block"
"""

BAD = """
[categories.social]
domains = ["facebook.com"]

[[rules]]
name = "everyone"
categories = ["socail"]
read = "alow"
"""


def test_a_good_policy_is_summarised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "office.toml"
    path.write_text(GOOD)
    assert main(["policy", "check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: valid, revision ")
    assert lines[1:] == [
        "settings: acknowledgement_ttl 8h, renewal_notice 14d",
        "categories (2):",
        "  social      2 domains",
        "  rich-media  1 domain",
        "modules (2):",
        "  basics  valid 365d      Basics",
        "  video   never expires   Video",
        "rules (2, first match wins; no match: block):",
        "  1. trained: categories social, rich-media; when training basics;"
        " role publisher or editor; read allow, write allow",
        "  2. everyone: categories social; when everyone; read warn, write block",
    ]


def test_the_bundled_policy_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(default_policy_path())]) == 0
    assert f"revision {load_default_policy().revision}" in capsys.readouterr().out


def test_every_mistake_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "office.toml"
    path.write_text(BAD)
    assert main(["policy", "check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "office.toml: rule 'everyone': unknown category 'socail' (known: social)"
        " (line 7, rules[0].categories[0])",
        "office.toml: rule 'everyone': read: 'alow' is not one of allow, warn, block"
        " (line 8, rules[0].read)",
        "office.toml: 2 errors",
    ]


def test_several_mistakes_are_reported_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.toml"
    path.write_text(BAD.replace('"alow"', '"allow"\ntraining_all = ["basics"]'))
    assert main(["policy", "check", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "office.toml: rule 'everyone': unknown category 'socail' (known: social)"
        " (line 7, rules[0].categories[0])",
        "office.toml: rule 'everyone': unknown module 'basics' in training_all (known: none)"
        " (line 9, rules[0].training_all[0])",
        "office.toml: 2 errors",
    ]


def test_schema_and_reference_mistakes_in_different_tables_are_reported_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.toml"
    path.write_text(GOOD.replace('title = "Video"\n', "").replace('"rich-media"]', '"rich-meda"]'))
    assert main(["policy", "check", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "office.toml: module 'video': missing required key 'title' (line 7, modules.video.title)",
        "office.toml: rule 'trained': unknown category 'rich-meda' (known: rich-media, social)"
        " (line 18, rules[0].categories[1])",
        "office.toml: 2 errors",
    ]


def test_a_policy_saved_with_a_byte_order_mark_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.toml"
    path.write_text(GOOD, encoding="utf-8-sig")  # as Windows Notepad saves it
    assert main(["policy", "check", str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: valid, revision ")


def test_a_missing_policy_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "check", str(tmp_path / "nope.toml")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"nope.toml: cannot read {tmp_path / 'nope.toml'}: No such file or directory",
        "nope.toml: 1 error",
    ]


def test_a_bad_policy_refuses_every_command_that_needs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "office.toml"
    path.write_text(BAD)
    code = main(["explain", "alice", "x.com", "--policy", str(path), "--db-url", "sqlite://"])
    assert code == 1
    assert capsys.readouterr().err.startswith("office.toml: rule 'everyone': ")
