"""Tests for addons.portal_samples: the samples are shaped like the real documents, and the
bundled templates render every one of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from addons.access_page import access_document, request_document
from addons.page_templates import Templates
from addons.portal_samples import PORTAL_SAMPLES, SAMPLE_PERSON, SAMPLE_REQUEST, SAMPLE_VISITOR
from addons.who import Who
from policy import Acknowledgement, Grant, Subject
from policy.standing import standing
from tests.addons.fakes import TRAINED, sample_policy
from tests.addons.portal_support import Kept
from tests.policy.samples import NOW


def shape(value: Any, at: str = "") -> set[str]:
    """Every path of keys in `value` (`categories[].access.remedy`), items of lists merged;
    reading and posting are one shape (`access`): samples need not take each branch twice."""
    if isinstance(value, list):
        return set().union(*(shape(item, f"{at}[]") for item in value))
    if not isinstance(value, dict):
        return set()
    paths: set[str] = set()
    for key, item in value.items():
        path = f"{at}.{'access' if key in ('read', 'write') else key}"
        paths |= {path, *shape(item, path)}
    return paths


def real(who: Who, subject: Subject) -> dict[str, Any]:
    policy = sample_policy()
    asked = Kept(1, "tess", "social", "comms-publisher", "why", "pending", NOW)
    requests = (asked,) if who.username else ()
    return access_document(policy, who, subject, standing(policy, subject, NOW), requests)


def test_the_samples_have_the_keys_of_real_documents() -> None:
    ack = Acknowledgement("social", NOW, NOW + timedelta(hours=8))
    grant = Grant("comms-publisher", NOW - timedelta(days=1))
    rich = replace(TRAINED, acknowledgements=(ack,), grants=(grant,))
    tess = Who("tess", "proxyauth", "10.0.0.5")
    person = shape(real(tess, rich)) | shape(real(tess, TRAINED))  # a role held, one to ask
    visitor = real(Who(None, "none", "10.0.0.5"), Subject.anonymous())
    assert shape(SAMPLE_PERSON) == person
    assert shape(SAMPLE_VISITOR["courses"]) == shape(visitor["courses"])
    assert set(SAMPLE_VISITOR) == set(visitor)
    kept = Kept(1, "tess", "social", "comms-publisher", "why", "pending", NOW)
    assert shape(SAMPLE_REQUEST) == shape(request_document(kept))


@pytest.mark.parametrize("name", sorted(PORTAL_SAMPLES))
def test_every_sample_renders_with_the_bundled_templates(name: str) -> None:
    templates = Templates.load(None, {name: PORTAL_SAMPLES[name]})
    for context in PORTAL_SAMPLES[name]:
        assert "<h1>" in templates.render(name, **context)
