"""The facts of the access page, as one JSON-ready document: the HTML page and the JSON
answer are the same facts (the template renders this document; README lists its keys).

Pure: built from the person's standing (`policy.standing`), their requests and the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from addons.protocols import RequestRecord
from addons.who import Who
from policy import Access, Policy, Subject
from policy.requestable import requestable_roles
from policy.standing import AccessNow, CategoryStanding, CourseStanding, Standing, summary

VIA = {
    "proxyauth": "signed in to the proxy",
    "header": "the upstream sign-in header",
    "address": "the address map (your computer's address)",
}
REQUEST_PATH = "/request"  # the form to ask for a role
REQUESTS_PATH = "/requests"  # where the form posts; /requests/ID shows one

type Document = dict[str, Any]


def when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def web_link(url: str) -> str | None:
    """`url` if it is a web link; a `javascript:` URL in a policy file must not become one."""
    return url if urlsplit(url).scheme.lower() in ("http", "https") else None


def request_url(category: str, role: str) -> str:
    return f"{REQUEST_PATH}?{urlencode({'category': category, 'role': role})}"


def person(who: Who, subject: Subject) -> Document | None:
    if who.username is None:
        return None
    return {
        "username": who.username,
        "known": subject.known,
        "department": subject.department,
        "identified_by": who.via,
        "identified_by_text": VIA.get(who.via, who.via),
    }


def access_document(
    policy: Policy,
    who: Who,
    subject: Subject,
    of: Standing,
    requests: Sequence[RequestRecord],
) -> Document:
    """The access page's facts. `who` unidentified: what the policy asks of everyone, and
    nothing personal (the caller passes `Subject.anonymous()` and no requests)."""
    identified = who.username is not None and subject.known
    pending = {(r.category, r.role): r.id for r in requests if r.state == "pending"}
    return {
        "identified": who.username is not None,
        "person": person(who, subject),
        "records_available": not of.degraded,
        "policy_revision": policy.revision,
        "categories": [
            _category(policy, each, pending if identified else None) for each in of.categories
        ],
        "courses": [_course(each, personal=who.username is not None) for each in of.courses],
        "acknowledgements": [
            {
                "category": a.category,
                "acknowledged_at": when(a.acknowledged_at),
                "expires_at": when(a.expires_at),
            }
            for a in of.acknowledgements
        ],
        "roles": [
            {"role": g.role, "since": when(g.starts_at), "until": when(g.ends_at)}
            for g in of.grants
        ],
        "requests": [request_document(r) for r in requests],
    }


def request_document(request: RequestRecord) -> Document:
    return {
        "id": request.id,
        "category": request.category,
        "role": request.role,
        "justification": request.justification,
        "state": str(request.state),
        "requested_at": when(request.requested_at),
        "decided_at": when(request.decided_at),
        "reason": request.decision_reason,
        "url": f"{REQUESTS_PATH}/{request.id}",
    }


def _category(
    policy: Policy, each: CategoryStanding, pending: dict[tuple[str, str], int] | None
) -> Document:
    name = each.category.name
    askable = requestable_roles(policy, name) if pending is not None else frozenset()
    return {
        "name": name,
        "guidance": list(each.category.guidance),
        "read": _access(Access.READ, each.read, name, askable, pending or {}),
        "write": _access(Access.WRITE, each.write, name, askable, pending or {}),
        "rules": [
            {
                "rule": rule.name,
                "courses": [
                    {"key": m.key, "title": m.title, "url": web_link(m.url)}
                    for m in rule.training_all
                ],
                "roles": list(rule.roles_any),
                "read": str(rule.read),
                "write": str(rule.write),
            }
            for rule in each.rules
        ],
    }


def _access(
    access: Access,
    what: AccessNow,
    category: str,
    askable: frozenset[str],
    pending: dict[tuple[str, str], int],
) -> Document:
    decision, remedy = what.decision, what.remedy
    return {
        "action": str(decision.action),
        "reason": str(decision.reason),
        "rule": decision.rule,
        "summary": summary(access, what, category),
        "explanation": list(what.reasons),
        "remedy": None
        if remedy is None
        else {
            "reason": remedy.reason,
            "courses": [
                {"key": m.key, "title": m.title, "url": web_link(m.url)} for m in remedy.modules
            ],
            "roles": [
                {
                    "role": role,
                    "requestable": role in askable,
                    "request_url": request_url(category, role) if role in askable else None,
                    "pending_request": pending.get((category, role)),
                }
                for role in remedy.roles
            ],
        },
    }


def _course(each: CourseStanding, *, personal: bool) -> Document:
    module = each.module
    days = None if module.valid_for is None else module.valid_for.days
    document: Document = {
        "key": module.key,
        "title": module.title,
        "url": web_link(module.url),
        "valid_for_days": days,
    }
    if personal:
        document |= {
            "state": str(each.state),
            "completed_at": when(each.completed_at),
            "expires_at": when(each.expires_at),
            "renewal_notice_from": when(each.renewal_from),
        }
    return document
