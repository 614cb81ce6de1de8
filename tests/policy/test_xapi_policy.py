"""`xapi_activities` on modules and `xapi_verbs` in settings: parsed and checked."""

from __future__ import annotations

import pytest

from policy import PolicyError
from policy.loader import parse_policy
from policy.model import XAPI_DEFAULT_VERBS

POLICY = """\
[settings]
{settings}

[modules.basics]
title = "Basics"
url = "https://lms.example.org/basics"
xapi_activities = {basics}

[modules.publishing]
title = "Publishing"
url = "https://lms.example.org/publishing"
xapi_activities = {publishing}

[categories.social]
domains = ["facebook.com"]
"""


def parse(settings: str = "", basics: str = "[]", publishing: str = "[]") -> object:
    text = POLICY.format(settings=settings, basics=basics, publishing=publishing)
    return parse_policy(text.encode(), source="test", label="policy.toml")


def errors(**parts: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse(**parts)
    return caught.value.lines()


def test_activities_map_to_their_module_and_verbs_default() -> None:
    policy = parse(basics='["https://lms.example.org/course/view.php?id=12"]')
    assert policy.xapi_activities == {"https://lms.example.org/course/view.php?id=12": "basics"}  # type: ignore[attr-defined]
    assert policy.settings.xapi_verbs == XAPI_DEFAULT_VERBS  # type: ignore[attr-defined]


def test_the_verbs_can_be_set() -> None:
    policy = parse(settings='xapi_verbs = ["https://w3id.org/xapi/cmi5/verbs/completed"]')
    assert policy.settings.xapi_verbs == ("https://w3id.org/xapi/cmi5/verbs/completed",)  # type: ignore[attr-defined]


def test_an_activity_must_be_an_absolute_iri() -> None:
    assert errors(basics='["course 12"]') == [
        "policy.toml: module 'basics': xapi_activities: 'course 12' is not an absolute IRI"
        " (such as https://lms.example.org/course/view.php?id=12)"
        " (line 7, modules.basics.xapi_activities[0])"
    ]


def test_a_verb_must_be_an_absolute_iri() -> None:
    (line,) = errors(settings='xapi_verbs = ["completed"]')
    assert line.startswith(
        "policy.toml: [settings]: xapi_verbs: 'completed' is not an absolute IRI"
    )
    assert line.endswith("(line 2, settings.xapi_verbs[0])")


def test_an_activity_belongs_to_one_module() -> None:
    iri = '"https://lms.example.org/course/view.php?id=12"'
    assert errors(basics=f"[{iri}]", publishing=f"[{iri}]") == [
        "policy.toml: module 'publishing': xapi_activities:"
        " 'https://lms.example.org/course/view.php?id=12' is listed also in module 'basics'"
        " (line 12, modules.publishing.xapi_activities[0])"
    ]
