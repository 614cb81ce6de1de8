"""Sample contexts of the access page's templates, for the check of an operator's templates
at start (`addons.page_templates`): each branch a template may take. Their keys are the
real documents' (tests/addons/test_portal_samples.py compares them)."""

from __future__ import annotations

from typing import Any

from addons.page_templates import Samples
from addons.pages import DEFAULT_PORTAL_URL, RequestForm

_WHEN = "2026-11-25T12:00:00+00:00"
_COURSE = {"key": "basics", "title": "Social media basics", "url": "https://l.example/b"}
_ROLE = {
    "role": "comms-publisher",
    "requestable": True,
    "request_url": "/request?category=social&role=comms-publisher",
    "pending_request": None,
}
_BLOCKED = {
    "action": "block",
    "reason": "no_matching_rule",
    "rule": None,
    "summary": "You may not post to social sites: it is blocked.",
    "explanation": ["Rule 'trained' does not apply: training basics not completed."],
    "remedy": {
        "reason": "You have not completed Social media basics yet.",
        "courses": [_COURSE, {**_COURSE, "url": None}],
        "roles": [_ROLE, {**_ROLE, "pending_request": 3}, {**_ROLE, "request_url": None}],
    },
}
_ALLOWED = {**_BLOCKED, "action": "allow", "explanation": [], "remedy": None}
_RULE = {"rule": "trained", "courses": [_COURSE], "roles": ["r"], "read": "allow", "write": "warn"}
_CATEGORY = {
    "name": "social",
    "guidance": ["If in doubt, don't post it."],
    "read": _ALLOWED,
    "write": _BLOCKED,
    "rules": [_RULE, {**_RULE, "courses": [], "roles": []}],
}
SAMPLE_REQUEST: dict[str, Any] = {
    "id": 3,
    "category": "social",
    "role": "comms-publisher",
    "justification": "I post for the press office.",
    "state": "pending",
    "requested_at": _WHEN,
    "decided_at": None,
    "reason": None,
    "url": "/requests/3",
}
_DENIED = {**SAMPLE_REQUEST, "state": "denied", "decided_at": _WHEN, "reason": "Not now."}
_APPROVED = {**_DENIED, "state": "approved"}
_PERSONAL_COURSE = {
    **_COURSE,
    "valid_for_days": 365,
    "state": "valid",
    "completed_at": _WHEN,
    "expires_at": _WHEN,
    "renewal_notice_from": _WHEN,
}
SAMPLE_PERSON: dict[str, Any] = {
    "identified": True,
    "person": {
        "username": "alice",
        "known": True,
        "department": "Finance",
        "identified_by": "proxyauth",
        "identified_by_text": "signed in to the proxy",
    },
    "records_available": True,
    "policy_revision": "abc",
    "categories": [_CATEGORY, {**_CATEGORY, "name": "rich-media", "read": _BLOCKED}],
    "courses": [
        _PERSONAL_COURSE,
        {**_PERSONAL_COURSE, "state": "expired"},
        {**_PERSONAL_COURSE, "expires_at": None, "renewal_notice_from": None},
        {**_PERSONAL_COURSE, "state": "not_completed", "completed_at": None},
    ],
    "acknowledgements": [{"category": "social", "acknowledged_at": _WHEN, "expires_at": _WHEN}],
    "roles": [
        {"role": "r", "since": _WHEN, "until": _WHEN},
        {"role": "s", "since": _WHEN, "until": None},
    ],
    "requests": [SAMPLE_REQUEST, _DENIED],
}
SAMPLE_VISITOR: dict[str, Any] = {
    **SAMPLE_PERSON,
    "identified": False,
    "person": None,
    "courses": [
        {**_COURSE, "valid_for_days": 365},
        {**_COURSE, "valid_for_days": None, "url": None},
    ],
    "acknowledgements": [],
    "roles": [],
    "requests": [],
}
_FORM = RequestForm("http://leeway.internal/requests", "token", "social", ("comms-publisher",))
_PORTAL = {"portal_url": DEFAULT_PORTAL_URL}

PORTAL_SAMPLES: Samples = {
    "access.html": [
        {**_PORTAL, "page": page}
        for page in (
            SAMPLE_PERSON,
            SAMPLE_VISITOR,
            {**SAMPLE_PERSON, "records_available": False, "requests": [], "roles": []},
            {**SAMPLE_PERSON, "person": {**SAMPLE_PERSON["person"], "known": False}},
            {**SAMPLE_PERSON, "acknowledgements": []},
        )
    ],
    "request.html": [
        {**_PORTAL, "request_form": form}
        for form in (
            _FORM,
            RequestForm(_FORM.action, "t", "social", ("a",), "x" * 501, "Too long."),
        )
    ],
    "asked.html": [
        {**_PORTAL, "request": request, "again": again}
        for request in (SAMPLE_REQUEST, _DENIED, _APPROVED)
        for again in (False, True)
    ],
    "problem.html": [
        {**_PORTAL, "status": status, "message": "Not here."} for status in (400, 403, 404, 503)
    ],
}
