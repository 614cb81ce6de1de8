"""The decision engine as a named decision table, plus its explanations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy import Access, Action, Decision, Policy, Reason, Request, Subject, engine, parse_policy
from policy.domains import Match
from policy.hosts import InvalidHost
from policy.subject import Acknowledgement, Grant
from tests.policy.samples import NOW, TEST_POLICY


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def trained(*extra: tuple[str, str], grants: tuple[Grant, ...] = ()) -> Subject:
    completions: dict[str, tuple[datetime, ...]] = {"basics": (at("2026-03-01"),)}
    for module, when in extra:
        completions[module] = (*completions.get(module, ()), at(when))
    return Subject("trained", True, completions=completions, grants=grants)


def grant(role: str, starts: str = "2026-01-01", **kw: str) -> Grant:
    times = {k: at(v) for k, v in kw.items()}
    return Grant(role, at(starts), **times)


def ack(category: str, hours_left: float) -> Acknowledgement:
    expires = NOW + timedelta(hours=hours_left)
    return Acknowledgement(category, expires - timedelta(hours=8), expires)


ANON = Subject.anonymous()
UNKNOWN = Subject.anonymous("nobody")
TRAINED = trained()
EXPIRED = Subject("old", True, completions={"basics": (at("2025-10-01"),)})
EXPIRING = Subject("soon", True, completions={"basics": (at("2025-12-01"),)})
EXPIRING_ACKED = replace(EXPIRING, acknowledgements=(ack("social", 2),))
RENEWED = Subject("renewed", True, completions={"basics": (at("2025-10-01"), at("2026-11-01"))})
FUTURE = Subject("early", True, completions={"basics": (at("2026-12-01"),)})
JUST_NOW = Subject("now", True, completions={"basics": (NOW,)})
AT_EXPIRY = Subject("edge", True, completions={"basics": (NOW - timedelta(days=365),)})
PUBLISHER = trained(("publishing", "2026-09-01"), grants=(grant("comms-publisher"),))
PUB_EXPIRING = trained(("publishing", "2026-06-01"), grants=(grant("comms-publisher"),))
PUB_REVOKED = replace(PUBLISHER, grants=(grant("comms-publisher", revoked_at="2026-11-01"),))
PUB_ENDED = replace(PUBLISHER, grants=(grant("comms-publisher", ends_at="2026-11-20"),))
PUB_FUTURE = replace(PUBLISHER, grants=(grant("comms-publisher", starts="2026-12-01"),))
ROLE_ONLY = Subject("role", True, grants=(grant("comms-publisher"),))
ACKED = Subject("acked", True, acknowledgements=(ack("social", 3),))
ACK_EXPIRED = Subject("acked", True, acknowledgements=(ack("social", -1),))
ACK_OTHER = Subject("acked", True, acknowledgements=(ack("rich-media", 3),))
VIDEO = Subject("viewer", True, completions={"video": (at("2015-01-01"),)})
MANAGER = Subject("boss", True, grants=(grant("manager"),))

A, W, B = Action.ALLOW, Action.WARN, Action.BLOCK
R = Reason


def case(
    id: str,
    subject: Subject,
    hosts: str,
    method: str,
    action: Action,
    reason: Reason,
    *overrides: tuple[str, str],
) -> object:
    return pytest.param(subject, tuple(hosts.split()), method, action, reason, overrides, id=id)


OVERRIDE = "X-HTTP-Method-Override"


TABLE = [
    case("uncategorised host -> allow", ANON, "www.example.org", "GET", A, R.UNCATEGORIZED),
    case("unlisted IP literal -> allow", ANON, "198.51.100.1", "POST", A, R.UNCATEGORIZED),
    case("listed IP literal -> no rule, block", ANON, "192.0.2.7", "GET", B, R.NO_MATCHING_RULE),
    case("host with a slash -> block", ANON, "face/book.com", "GET", B, R.INVALID_HOST),
    case("anonymous read -> warn", ANON, "www.facebook.com", "GET", W, R.RULE_MATCHED),
    case("anonymous post -> block", ANON, "www.facebook.com", "POST", B, R.RULE_MATCHED),
    case("HEAD is a read", ANON, "facebook.com", "HEAD", W, R.RULE_MATCHED),
    case("OPTIONS is a read", ANON, "facebook.com", "OPTIONS", W, R.RULE_MATCHED),
    case("PUT is a write", ANON, "facebook.com", "PUT", B, R.RULE_MATCHED),
    case("DELETE is a write", ANON, "facebook.com", "DELETE", B, R.RULE_MATCHED),
    case("PATCH is a write", ANON, "facebook.com", "PATCH", B, R.RULE_MATCHED),
    case("lower-case method", ANON, "facebook.com", "get", W, R.RULE_MATCHED),
    case("CDN host is social", ANON, "scontent.xx.fbcdn.net", "GET", W, R.RULE_MATCHED),
    case("upper case, trailing dot", ANON, "WWW.FACEBOOK.COM.", "GET", W, R.RULE_MATCHED),
    case("host with port", ANON, "www.facebook.com:443", "GET", W, R.RULE_MATCHED),
    case("lookalike suffix -> allow", ANON, "notfacebook.com", "GET", A, R.UNCATEGORIZED),
    case(
        "listed name as prefix -> allow",
        ANON,
        "facebook.com.evil.example",
        "GET",
        A,
        R.UNCATEGORIZED,
    ),
    case("unicode name", ANON, "BÜCHER.example", "GET", W, R.RULE_MATCHED),
    case("punycode name", ANON, "XN--BCHER-KVA.example", "GET", W, R.RULE_MATCHED),
    case("unknown user as anonymous", UNKNOWN, "x.com", "GET", W, R.RULE_MATCHED),
    case("trained read -> allow", TRAINED, "www.facebook.com", "GET", A, R.RULE_MATCHED),
    case("trained post -> warn", TRAINED, "www.facebook.com", "POST", W, R.RULE_MATCHED),
    case("expired training read -> warn", EXPIRED, "x.com", "GET", W, R.RULE_MATCHED),
    case("expired training post -> block", EXPIRED, "x.com", "POST", B, R.RULE_MATCHED),
    case("expiring training read -> renewal", EXPIRING, "x.com", "GET", W, R.TRAINING_EXPIRING),
    case("expiring training post stays warn", EXPIRING, "x.com", "POST", W, R.RULE_MATCHED),
    case("renewal acknowledged -> allow", EXPIRING_ACKED, "x.com", "GET", A, R.ACKNOWLEDGED),
    case("renewed after expiry -> allow", RENEWED, "x.com", "GET", A, R.RULE_MATCHED),
    case("completion in the future -> warn", FUTURE, "x.com", "GET", W, R.RULE_MATCHED),
    case("completed this instant -> allow", JUST_NOW, "x.com", "GET", A, R.RULE_MATCHED),
    case("at the instant of expiry -> warn", AT_EXPIRY, "x.com", "GET", W, R.RULE_MATCHED),
    case("publisher read -> allow", PUBLISHER, "x.com", "GET", A, R.RULE_MATCHED),
    case("publisher post -> allow", PUBLISHER, "x.com", "POST", A, R.RULE_MATCHED),
    case(
        "publisher course expiring -> renewal",
        PUB_EXPIRING,
        "x.com",
        "POST",
        W,
        R.TRAINING_EXPIRING,
    ),
    case("revoked grant -> trained rule", PUB_REVOKED, "x.com", "POST", W, R.RULE_MATCHED),
    case("ended grant -> trained rule", PUB_ENDED, "x.com", "POST", W, R.RULE_MATCHED),
    case("grant not started -> trained rule", PUB_FUTURE, "x.com", "POST", W, R.RULE_MATCHED),
    case("role without training -> everyone", ROLE_ONLY, "x.com", "POST", B, R.RULE_MATCHED),
    case("acknowledged read -> allow", ACKED, "facebook.com", "GET", A, R.ACKNOWLEDGED),
    case("acknowledgement does not lift a block", ACKED, "facebook.com", "POST", B, R.RULE_MATCHED),
    case("expired acknowledgement -> warn", ACK_EXPIRED, "facebook.com", "GET", W, R.RULE_MATCHED),
    case("other category's acknowledgement", ACK_OTHER, "facebook.com", "GET", W, R.RULE_MATCHED),
    case("nested domain: longest decides", TRAINED, "video.facebook.com", "GET", W, R.RULE_MATCHED),
    case("never-expiring course -> allow", VIDEO, "www.youtube.com", "GET", A, R.RULE_MATCHED),
    case("write omitted = read", VIDEO, "www.youtube.com", "POST", A, R.RULE_MATCHED),
    case("role rule read -> allow", MANAGER, "youtube.com", "GET", A, R.RULE_MATCHED),
    case("role rule write -> block", MANAGER, "youtube.com", "POST", B, R.RULE_MATCHED),
    case("category without rules -> block", TRAINED, "news.example", "GET", B, R.NO_MATCHING_RULE),
    case(
        "fronting: strictest name wins",
        ANON,
        "cdn.example.net www.facebook.com",
        "GET",
        W,
        R.RULE_MATCHED,
    ),
    case(
        "fronting: warn beats allow",
        TRAINED,
        "www.facebook.com youtube.com",
        "GET",
        W,
        R.RULE_MATCHED,
    ),
    case("fronting: invalid name blocks", TRAINED, "x.com bad..name", "GET", B, R.INVALID_HOST),
    case(
        "GET overridden to POST -> write",
        ANON,
        "x.com",
        "GET",
        B,
        R.RULE_MATCHED,
        (OVERRIDE, "POST"),
    ),
    case(
        "X-HTTP-Method names DELETE",
        TRAINED,
        "x.com",
        "GET",
        W,
        R.RULE_MATCHED,
        ("X-HTTP-Method", "DELETE"),
    ),
    case(
        "X-Method-Override, any case",
        ANON,
        "x.com",
        "HEAD",
        B,
        R.RULE_MATCHED,
        ("x-method-override", " put "),
    ),
    case(
        "override naming a read stays a read",
        ANON,
        "x.com",
        "GET",
        W,
        R.RULE_MATCHED,
        (OVERRIDE, "head"),
    ),
    case(
        "override list: any write wins",
        ANON,
        "x.com",
        "GET",
        B,
        R.RULE_MATCHED,
        (OVERRIDE, "GET, PATCH"),
    ),
    case(
        "several overrides: any write wins",
        ANON,
        "x.com",
        "GET",
        B,
        R.RULE_MATCHED,
        (OVERRIDE, "GET"),
        ("X-HTTP-Method", "POST"),
    ),
    case(
        "empty override is no override", ANON, "x.com", "GET", W, R.RULE_MATCHED, (OVERRIDE, " , ")
    ),
    case(
        "other header is no override", ANON, "x.com", "GET", W, R.RULE_MATCHED, ("X-Method", "POST")
    ),
    case(
        "override on an allowed write",
        PUBLISHER,
        "x.com",
        "GET",
        A,
        R.RULE_MATCHED,
        (OVERRIDE, "POST"),
    ),
]


@pytest.mark.parametrize(("subject", "hosts", "method", "action", "reason", "overrides"), TABLE)
def test_decision_table(
    policy: Policy,
    subject: Subject,
    hosts: tuple[str, ...],
    method: str,
    action: Action,
    reason: Reason,
    overrides: tuple[tuple[str, str], ...],
) -> None:
    decision = policy.decide(subject, Request(method, hosts, overrides), NOW)
    assert (decision.action, decision.reason) == (action, reason)
    assert decision.revision == policy.revision


def test_rule_and_category_are_named(policy: Policy) -> None:
    d = policy.decide(TRAINED, Request.to("video.facebook.com"), NOW)
    assert (d.category, d.rule, d.matched_domain) == (
        "rich-media",
        "video-everyone",
        "video.facebook.com",
    )
    blocked = policy.decide(ANON, Request.to("news.example"), NOW)
    assert (blocked.category, blocked.rule) == ("news", None)
    assert policy.decide(ANON, Request.to("example.org"), NOW).category is None


def test_explanation_says_why_earlier_rules_did_not_apply(policy: Policy) -> None:
    d = policy.decide(EXPIRED, Request.to("x.com"), NOW)
    text = "\n".join(d.explanation)
    assert "Rule 'publishers' does not apply" in text
    assert "training publishing not completed" in text
    assert "no active grant of role comms-publisher" in text
    assert "training basics expired on 2026-10-01" in text
    assert "Rule 'everyone' applies: read is warn." in text


def test_explanation_of_renewal_and_acknowledgement(policy: Policy) -> None:
    renewal = policy.decide(EXPIRING, Request.to("x.com"), NOW)
    assert any("expires on 2026-12-01" in s for s in renewal.explanation)
    acked = policy.decide(ACKED, Request.to("x.com"), NOW)
    assert any("acknowledged" in s for s in acked.explanation)


def test_an_override_is_explained_and_decided_as_write(policy: Policy) -> None:
    request = Request.to("www.facebook.com", "GET", (("x-http-method-override", "post"),))
    d = policy.decide(ANON, request, NOW)
    assert (d.action, d.access) == (Action.BLOCK, "write")
    assert d.explanation[1] == (
        "The request counts as posting: its X-HTTP-Method-Override header names POST."
    )
    assert d.explanation[-1] == "Rule 'everyone' applies: write is block."
    plain = policy.decide(ANON, Request.to("www.facebook.com", "POST"), NOW)
    assert not any("counts as posting" in s for s in plain.explanation)


def test_no_matching_rule_is_explained(policy: Policy) -> None:
    d = policy.decide(ANON, Request.to("youtube.com", "DELETE"), NOW)
    assert d.rule == "video-everyone"
    d = policy.decide(ANON, Request.to("news.example"), NOW)
    assert d.explanation[-1] == "No rule for news applies to this user: read is blocked."


@pytest.mark.parametrize(
    ("subject", "method", "interstitial"),
    [
        pytest.param(ANON, "GET", True, id="read warns"),
        pytest.param(TRAINED, "GET", True, id="write warns: reminder on page load"),
        pytest.param(PUBLISHER, "GET", False, id="nothing warns"),
        pytest.param(ACKED, "GET", False, id="acknowledged"),
        pytest.param(EXPIRING, "GET", True, id="renewal notice"),
    ],
)
def test_interstitial_on_page_load(
    policy: Policy, subject: Subject, method: str, interstitial: bool
) -> None:
    assert policy.decide(subject, Request.to("x.com", method), NOW).interstitial is interstitial


def test_renewal_notice_can_be_switched_off() -> None:
    quiet = parse_policy(
        TEST_POLICY.replace('renewal_notice = "14d"', 'renewal_notice = "0d"').encode(),
        source="t",
        label="t.toml",
    )
    d = quiet.decide(EXPIRING, Request.to("x.com"), NOW)
    assert (d.action, d.reason) == (Action.ALLOW, Reason.RULE_MATCHED)


def test_json_has_the_contract_keys(policy: Policy) -> None:
    doc = policy.decide(ANON, Request.to("www.facebook.com", "POST"), NOW).to_json()
    assert {"action", "access", "category", "rule", "reason", "explanation"} <= doc.keys()
    assert (doc["action"], doc["access"], doc["category"]) == ("block", "write", "social")
    assert (doc["rule"], doc["reason"]) == ("everyone", "rule_matched")
    assert isinstance(doc["explanation"], list)


@given(host=st.text(max_size=80), method=st.text(max_size=10))
def test_decide_never_raises(policy: Policy, host: str, method: str) -> None:
    d = policy.decide(ANON, Request(method, (host,)), NOW)
    assert d.action in set(Action)


@pytest.mark.parametrize(
    ("subject", "host", "method", "action"),
    [
        pytest.param(ANON, "x.com", "GET", Action.WARN, id="anonymous reading social -> warn"),
        pytest.param(ANON, "news.example", "GET", Action.BLOCK, id="no rule -> block"),
        pytest.param(TRAINED, "x.com", "GET", Action.ALLOW, id="rule allows -> allow"),
    ],
)
def test_a_degraded_subject_is_decided_by_the_rules_with_reason_store_unavailable(
    policy: Policy, subject: Subject, host: str, method: str, action: Action
) -> None:
    degraded = replace(subject, degraded=True)
    healthy = policy.decide(subject, Request.to(host, method), NOW)
    decision = policy.decide(degraded, Request.to(host, method), NOW)
    assert (decision.action, decision.reason) == (action, Reason.STORE_UNAVAILABLE)
    assert decision._replace(reason=healthy.reason) == healthy
    assert "could not be read" in " ".join(decision.explanation)


def test_a_degraded_subject_leaves_uncategorised_and_invalid_hosts_alone(policy: Policy) -> None:
    degraded = Subject.anonymous("ada", degraded=True)
    assert policy.decide(degraded, Request.to("example.org"), NOW).reason is Reason.UNCATEGORIZED
    assert policy.decide(degraded, Request.to("a b"), NOW).reason is Reason.INVALID_HOST


def test_the_memory_of_host_names_is_bounded(
    policy: Policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "_REMEMBER_HOSTS", 4)
    for i in range(10):
        assert policy.decide(ANON, Request.to(f"h{i}.x.com"), NOW).category == "social"
        assert policy.decide(ANON, Request.to(f"h{i}.example.org"), NOW).category is None
    assert len(policy._seen) <= 4


def test_classify_gives_the_match_as_one_value(policy: Policy) -> None:
    assert policy.classify("WWW.X.com:443") == Match("www.x.com", "social", "x.com")
    assert policy.classify("example.org") == "example.org"
    assert isinstance(policy.classify("a b"), InvalidHost)


def test_decision_of_builds_the_same_decision_as_the_class() -> None:
    fields = (Action.WARN, Access.READ, Reason.RULE_MATCHED, "x.com", "social", "r", "v1")
    extra = ("x.com", (), Action.WARN, True)
    built = Decision(*fields, *extra)
    assert Decision.of(**built._asdict()) == built
    assert type(Decision.of(**built._asdict())) is Decision


def test_normal_form_is_the_classified_host_or_the_raw_name(policy: Policy) -> None:
    assert policy.normal_form("WWW.X.com:443") == "www.x.com"
    assert policy.normal_form("Example.ORG.") == "example.org"
    assert policy.normal_form("a b") == "a b"
