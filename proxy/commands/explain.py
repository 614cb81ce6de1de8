"""`leeway explain USERNAME URL`: what the proxy would do with a request, and why.

The user's entitlements come from the store, the decision from the policy, exactly as the
proxy would make it at `--at` (default: now).
"""

from __future__ import annotations

import argparse
import json
import re
from urllib.parse import urlsplit

from policy import Decision, Request
from policy.hosts import InvalidHost, normalise_host
from proxy.commands import CommandError, Context, Subparsers, now, option_time, options
from proxy.plain_text import aligned
from proxy.store.entitlements import SqlEntitlements
from proxy.store.people import deactivated_since
from proxy.store.xapi import latest_completions

OVERRIDE_HEADER = "X-HTTP-Method-Override"
_METHOD = re.compile(r"[A-Za-z]{1,20}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def register(groups: Subparsers) -> None:
    explain = groups.add_parser(
        "explain",
        parents=[options(store=True, policy=True)],
        help="show what the proxy would do with a user's request, and why",
    )
    explain.add_argument("username", metavar="USERNAME")
    explain.add_argument("url", metavar="URL", help="with or without scheme: www.facebook.com/x")
    explain.add_argument(
        "--method", metavar="M", type=_method, default="GET", help="HTTP method (default GET)"
    )
    explain.add_argument(
        "--override",
        metavar="M",
        type=_method,
        help="decide as if the request carried X-HTTP-Method-Override: M",
    )
    explain.add_argument("--at", metavar="ISO", help="decide at this moment (default: now)")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    explain.set_defaults(handler=run_explain)


def _method(text: str) -> str:
    if not _METHOD.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an HTTP method such as GET or POST")
    return text.upper()


def host_of(url: str) -> str:
    """The normalised host of `url` (a scheme is optional); CommandError saying why if none."""
    text = url.strip()
    try:
        parts = urlsplit(text if _SCHEME.match(text) else f"http://{text}")
    except ValueError as e:
        raise CommandError(f"bad URL {url!r}: {e}") from None
    netloc = parts.netloc.rpartition("@")[2]  # drop any user:password@
    if not netloc:
        raise CommandError(f"bad URL {url!r}: no host")
    host = normalise_host(netloc)
    if isinstance(host, InvalidHost):
        raise CommandError(f"bad URL {url!r}: {host}")
    return host


def run_explain(args: argparse.Namespace, context: Context) -> int:
    username: str = args.username
    host = host_of(args.url)
    policy = context.policy()
    at = option_time(args.at, "--at", now())
    subject = SqlEntitlements(context.engine()).subject_for(username, at)
    overrides = () if args.override is None else ((OVERRIDE_HEADER, args.override),)
    decision = policy.decide(subject, Request.to(host, args.method, overrides), at)
    with context.transaction() as session:
        training = latest_completions(session, username, at)
        inactive = deactivated_since(session, username)
    sentences = list(decision.explanation)
    if inactive is not None:
        sentences.insert(
            0,
            f"User {username!r} was deactivated on {inactive.isoformat()} (no longer in the"
            " directory): decided as a user with no training and no roles.",
        )
    elif not subject.known:
        sentences.insert(
            0,
            f"User {username!r} is not in the store:"
            " decided as a user with no training and no roles.",
        )
    if args.json:
        document = decision.to_json() | {
            "user": username,
            "known_user": subject.known,
            "deactivated_at": inactive.isoformat() if inactive is not None else None,
            "at": at.isoformat(),
            "method": args.method,
            "explanation": sentences,
            "training": [
                {"module": m, "completed_at": when.isoformat(), "source": source}
                for m, when, source in training
            ],
        }
        context.say(json.dumps(document, indent=2))
        return 0
    method = (
        args.method
        if args.override is None
        else f"{args.method}, {OVERRIDE_HEADER}: {args.override}"
    )
    user = subject.username or ""
    if inactive is not None:
        user += f" (inactive since {inactive.isoformat()})"
    elif not subject.known:
        user += " (not in the store)"
    elif subject.department:
        user += f" ({subject.department})"
    context.say(*_table(decision, user, method, at.isoformat(), policy.source))
    # Where each completion came from: a CSV file, `training record`, or `xapi:<statement id>`.
    context.say(
        *(f"training  {m} completed {when.isoformat()} ({source})" for m, when, source in training)
    )
    context.say("", *sentences)
    return 0


def _table(decision: Decision, user: str, method: str, at: str, source: str) -> list[str]:
    rows = [
        ("user", user),
        ("URL host", decision.host),
        ("method", f"{method} ({decision.access})"),
        ("action", str(decision.action)),
        ("category", decision.category or "-"),
        ("rule", decision.rule or "-"),
        ("reason", str(decision.reason)),
        ("at", at),
        ("policy", f"revision {decision.revision} ({source})"),
    ]
    return aligned(rows)
