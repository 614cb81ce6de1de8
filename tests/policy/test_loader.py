"""Reading policy files: every mistake named with the file, the place and the reason."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from policy import (
    Action,
    PolicyError,
    default_policy_path,
    load_default_policy,
    load_policy,
    parse_policy,
)
from policy.hosts import normalise_host
from tests.policy.samples import TEST_POLICY

MINIMAL = """
[modules.basics]
title = "Basics"
url = "https://learning.example.org/basics"
valid_for = "365d"

[categories.social]
domains = ["facebook.com"]

[categories.rich-media]
domains = ["youtube.com"]

[[rules]]
name = "trained-staff"
categories = ["social"]
training_all = ["basics"]
read = "allow"
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.encode(), source="test", label="policy.toml")
    return str(caught.value).splitlines()


def test_minimal_policy_compiles() -> None:
    policy = parse_policy(MINIMAL.encode(), source="t", label="policy.toml")
    assert policy.settings.acknowledgement_ttl == timedelta(hours=8)
    assert policy.settings.renewal_notice == timedelta(days=14)
    (rule,) = policy.rules
    assert (rule.read, rule.write) == (Action.ALLOW, Action.ALLOW)
    assert rule.training_all[0].valid_for == timedelta(days=365)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            'categories = ["social"]',
            'categories = ["socail"]',
            "policy.toml: rule 'trained-staff': unknown category 'socail'"
            " (known: rich-media, social)",
            id="unknown category",
        ),
        pytest.param(
            'training_all = ["basics"]',
            'training_all = ["basic"]',
            "policy.toml: rule 'trained-staff': unknown module 'basic' in training_all"
            " (known: basics)",
            id="unknown module",
        ),
        pytest.param(
            'valid_for = "365d"',
            'valid_for = "1 year"',
            "policy.toml: module 'basics': valid_for: bad duration '1 year': expected a number"
            " and a unit (s, m, h, d, w), such as '30m', '8h' or '14d'",
            id="bad duration",
        ),
        pytest.param(
            'valid_for = "365d"',
            'valid_for = "0d"',
            "policy.toml: module 'basics': valid_for: must be longer than zero",
            id="zero validity",
        ),
        pytest.param(
            'read = "allow"',
            'read = "alow"',
            "policy.toml: rule 'trained-staff': read: 'alow' is not one of allow, warn, block",
            id="bad action",
        ),
        pytest.param(
            'read = "allow"',
            'read = "allow"\nwirte = "warn"',
            "policy.toml: rule 'trained-staff': unknown key 'wirte' (known: name, categories,"
            " roles_any, training_all, read, write)",
            id="unknown rule key",
        ),
        pytest.param(
            'title = "Basics"',
            'title = "Basics"\nlink = "x"',
            "policy.toml: module 'basics': unknown key 'link'"
            " (known: title, url, valid_for, xapi_activities)",
            id="unknown module key",
        ),
        pytest.param(
            'title = "Basics"\n',
            "",
            "policy.toml: module 'basics': missing required key 'title'",
            id="missing key",
        ),
        pytest.param(
            'url = "https://learning.example.org/basics"',
            'url = "learning.example.org"',
            "policy.toml: module 'basics': url: 'learning.example.org' is not an http:// or"
            " https:// address",
            id="bad url",
        ),
        pytest.param(
            'domains = ["youtube.com"]',
            'domains = ["youtube.com", "FACEBOOK.com"]',
            "policy.toml: category 'rich-media': domains: 'FACEBOOK.com'"
            " is listed also in 'social'",
            id="domain in two categories",
        ),
        pytest.param(
            'domains = ["youtube.com"]',
            'domains = ["you tube.com"]',
            "policy.toml: category 'rich-media': domains:",
            id="invalid domain",
        ),
        pytest.param(
            "[categories.social]",
            '[setings]\nacknowledgement_ttl = "8h"\n\n[categories.social]',
            "policy.toml: unknown table 'setings' (known: settings, modules, categories, rules)",
            id="unknown table",
        ),
        pytest.param(
            "[categories.social]",
            '[settings]\nacknowledgement_ttl = "8 hours"\n\n[categories.social]',
            "policy.toml: [settings]: acknowledgement_ttl: bad duration '8 hours'",
            id="bad setting",
        ),
        pytest.param(
            'domains = ["youtube.com"]',
            'domains = ["youtube.com"',
            "policy.toml: not valid TOML:",
            id="TOML syntax",
        ),
        pytest.param(
            'name = "trained-staff"',
            'name = "Trained Staff"',
            "policy.toml: rule 'Trained Staff': name: 'Trained Staff' is not a valid name",
            id="bad rule name",
        ),
    ],
)
def test_mistakes_are_named(old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    lines = errors_of(MINIMAL.replace(old, new, 1))
    assert any(line.startswith(message) for line in lines), lines


def test_duplicate_rule_names_are_refused() -> None:
    rule = MINIMAL[MINIMAL.index("[[rules]]") :]
    lines = errors_of(MINIMAL + rule)
    assert lines == [
        "policy.toml: rule 'trained-staff': duplicate rule name (line 19, rules[1].name)"
    ]


def test_every_mistake_is_reported_at_once() -> None:
    text = MINIMAL.replace('"socail"', "").replace('["social"]', '["socail"]')
    text = text.replace('["basics"]', '["nope"]')
    lines = errors_of(text)
    assert len(lines) == 2
    assert all(line.startswith("policy.toml: rule 'trained-staff': unknown") for line in lines)


# A rule first, so that file order differs from the order in which the checks run.
SCHEMA_AND_REFERENCES = """\
[[rules]]
name = "trained-staff"
categories = [
    "social",
    "socail",
]
training_all = ["basics"]
read = "allow"

[modules.basics]
url = "https://learning.example.org/basics"

[categories.social]
domains = ["facebook.com"]

[[rules]]
name = "everyone"
categories = ["social"]
read = "alow"
"""


def test_schema_and_reference_mistakes_are_reported_together_in_file_order() -> None:
    assert errors_of(SCHEMA_AND_REFERENCES) == [
        "policy.toml: rule 'trained-staff': unknown category 'socail' (known: social)"
        " (line 5, rules[0].categories[1])",
        "policy.toml: module 'basics': missing required key 'title'"
        " (line 10, modules.basics.title)",
        "policy.toml: rule 'everyone': read: 'alow' is not one of allow, warn, block"
        " (line 19, rules[1].read)",
    ]


def test_a_broken_rule_still_has_its_references_checked() -> None:
    text = MINIMAL.replace('read = "allow"', 'read = "alow"').replace('["social"]', '["socail"]')
    assert errors_of(text) == [
        "policy.toml: rule 'trained-staff': unknown category 'socail' (known: rich-media, social)"
        " (line 15, rules[0].categories[0])",
        "policy.toml: rule 'trained-staff': read: 'alow' is not one of allow, warn, block"
        " (line 17, rules[0].read)",
    ]


def test_a_rule_naming_a_broken_module_gets_no_second_error() -> None:
    # The module is there, only broken: "unknown module 'basics'" would send the reader
    # looking for a typo in the rule.
    assert errors_of(MINIMAL.replace('title = "Basics"\n', "")) == [
        "policy.toml: module 'basics': missing required key 'title' (line 2, modules.basics.title)"
    ]


def test_nothing_is_checked_against_a_section_that_is_not_a_table() -> None:
    text = 'modules = ["basics"]\n' + MINIMAL[MINIMAL.index("[categories.social]") :]
    assert errors_of(text) == [
        "policy.toml: modules: input should be a valid dictionary (got ['basics'])"
        " (line 1, modules)"
    ]


def test_policy_error_carries_each_mistake() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(SCHEMA_AND_REFERENCES.encode(), source="t", label="policy.toml")
    assert [(e.line, e.path) for e in caught.value.errors] == [
        (5, ("rules", 0, "categories", 1)),
        (10, ("modules", "basics", "title")),
        (19, ("rules", 1, "read")),
    ]
    assert [e.place for e in caught.value.errors] == [
        "rule 'trained-staff'",
        "module 'basics'",
        "rule 'everyone'",
    ]


def test_a_byte_order_mark_is_accepted() -> None:
    policy = parse_policy(b"\xef\xbb\xbf" + MINIMAL.encode(), source="t", label="policy.toml")
    assert [rule.name for rule in policy.rules] == ["trained-staff"]


def test_text_that_is_not_utf8_is_refused_at_its_line() -> None:
    content = MINIMAL.replace('title = "Basics"', 'title = "B\xe4sics"').encode("latin-1")
    with pytest.raises(PolicyError) as caught:
        parse_policy(content, source="t", label="policy.toml")
    offset = content.index(b"\xe4")
    assert str(caught.value) == (
        f"policy.toml: not UTF-8 text: byte 0xe4 at offset {offset} (line 3)"
    )


def test_a_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "office.toml"
    path.write_text(MINIMAL.replace('read = "allow"', 'read = "maybe"'))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(caught.value).startswith("office.toml: rule 'trained-staff': read:")
    with pytest.raises(PolicyError, match=r"missing\.toml: cannot read"):
        load_policy(tmp_path / "missing.toml")


def test_revision_identifies_the_content(tmp_path: Path) -> None:
    one = parse_policy(MINIMAL.encode(), source="a", label="a")
    same = parse_policy(MINIMAL.encode(), source="b", label="b")
    other = parse_policy((MINIMAL + "\n# changed\n").encode(), source="a", label="a")
    assert one.revision == same.revision != other.revision
    assert len(one.revision) == 12


def test_no_path_is_the_bundled_policy() -> None:
    # The one loader: `leeway run`, its reload and the commands all call it, path or none.
    bundled = load_policy(None)
    assert bundled.source == "(bundled) default_policy.toml"
    assert bundled.revision == load_policy(default_policy_path()).revision
    assert bundled.revision == load_default_policy().revision


def test_domains_are_normalised() -> None:
    policy = parse_policy(TEST_POLICY.encode(), source="t", label="t")
    assert "xn--bcher-kva.example" in policy.categories["social"].domains
    assert policy.category_of("cdn.xn--bcher-kva.example") == ("social", "xn--bcher-kva.example")


def test_default_policy_loads_and_covers_the_big_sites() -> None:
    policy = load_default_policy()
    expected = {
        "www.facebook.com": "social",
        "scontent.xx.fbcdn.net": "social",
        "pbs.twimg.com": "social",
        "media.licdn.com": "social",
        "scontent.cdninstagram.com": "social",
        "rr1---sn-abc.googlevideo.com": "rich-media",
        "i.ytimg.com": "rich-media",
        "f.vimeocdn.com": "rich-media",
    }
    for host, category in expected.items():
        match = policy.category_of(str(normalise_host(host)))
        assert match is not None and match[0] == category, host
    assert policy.category_of("www.google.com") is None
    assert policy.category_of("en.wikipedia.org") is None
    assert {"social", "rich-media"} <= policy.categories.keys()
    assert all(policy.categories[c].guidance for c in ("social", "rich-media"))
    assert "comms-publisher" in policy.roles
