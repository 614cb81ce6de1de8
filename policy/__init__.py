"""Leeway's pure policy core: host matching, the policy file and the decision engine.

Only the standard library and pydantic: no mitmproxy, no SQLAlchemy, no clock, no I/O
beyond reading a policy file.
"""

from policy.decision import Access, Action, Decision, Reason
from policy.engine import Policy, Request
from policy.errors import PolicyError
from policy.loader import default_policy_path, load_default_policy, load_policy, parse_policy
from policy.subject import Acknowledgement, EntitlementSource, Grant, Subject

__all__ = [
    "Access",
    "Acknowledgement",
    "Action",
    "Decision",
    "EntitlementSource",
    "Grant",
    "Policy",
    "PolicyError",
    "Reason",
    "Request",
    "Subject",
    "default_policy_path",
    "load_default_policy",
    "load_policy",
    "parse_policy",
]
