"""`leeway audit prune|pseudonymise|user`: retention of access events, and one person's events.

Looking at one person's events is deliberate: the look-up itself is recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from policy.durations import parse_duration
from proxy.audit.retention import PSEUDONYM_KEY
from proxy.commands import CommandError, Context, Subparsers, now, options
from proxy.plain_text import aligned, when
from proxy.store.events import events_for_user, prune, pseudonymise, record_lookup
from proxy.store.keys import signing_key
from proxy.store.records_retention import prune_records

if TYPE_CHECKING:
    import argparse
    from datetime import timedelta

    from proxy.store.access_event import AccessEvent

# `requests`: identical decisions within one audit flush (about a second) are one event.
COLUMNS = (
    *("time", "kind", "host", "category", "access", "action", "reason", "rule", "instance"),
    "requests",
)


def register(groups: Subparsers) -> None:
    group = groups.add_parser("audit", help="access events: retention and investigations")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store = [options(store=True)]
    prune_ = commands.add_parser(
        "prune",
        parents=store,
        help="delete old access events, and acknowledgements and access requests that ended",
    )
    prune_.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 90d")
    prune_.set_defaults(handler=run_prune)
    pseudo = commands.add_parser(
        "pseudonymise", parents=store, help="replace usernames in old events by a keyed hash"
    )
    pseudo.add_argument("--older-than", required=True, metavar="DURATION", help="e.g. 30d")
    pseudo.set_defaults(handler=run_pseudonymise)
    user = commands.add_parser(
        "user",
        parents=[options(store=True, operator=True)],
        help="one person's events, newest first (the look-up is recorded)",
    )
    user.add_argument("username", metavar="USERNAME")
    user.add_argument(
        "--since", default="30d", metavar="DURATION", help="how far back (default 30d)"
    )
    user.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    user.set_defaults(handler=run_user)


def run_prune(args: argparse.Namespace, context: Context) -> int:
    older_than = _duration(args.older_than, "--older-than")
    moment = now()
    with context.transaction() as session:
        removed = prune(session, older_than=older_than, now=moment)
        records = prune_records(session, older_than=older_than, now=moment)
    context.say(
        f"removed {removed} access events from before {when(moment - older_than)},"
        f" {records.acknowledgements} acknowledgements that ended then"
        f" and {records.requests} access requests decided then"
    )
    return 0


def run_pseudonymise(args: argparse.Namespace, context: Context) -> int:
    older_than = _duration(args.older_than, "--older-than")
    moment = now()
    key = signing_key(context.engine(), PSEUDONYM_KEY)
    with context.transaction() as session:
        changed = pseudonymise(session, older_than=older_than, key=key, now=moment)
    context.say(f"pseudonymised {changed} access events from before {when(moment - older_than)}")
    return 0


def run_user(args: argparse.Namespace, context: Context) -> int:
    moment = now()
    since = moment - _duration(args.since, "--since")
    operator = context.settings.operator
    with context.transaction() as session:
        record_lookup(session, operator=operator, subject=args.username, since=since, now=moment)
        events = events_for_user(session, args.username, since=since)
    if args.json:
        document = {
            "username": args.username,
            "since": since.isoformat(),
            "operator": operator,
            "events": [_json_event(event) for event in events],
        }
        context.say(json.dumps(document, indent=2, ensure_ascii=False))
        return 0
    context.say(
        f"{len(events)} access events of {args.username} since {when(since)}, newest first"
        f" (this look-up by {operator} is recorded)"
    )
    if events:
        context.say(*aligned([COLUMNS, *(_row(event) for event in events)]))
    return 0


def _duration(text: str, option: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as e:
        raise CommandError(f"{option}: {e}") from None


def _json_event(event: AccessEvent) -> dict[str, object]:
    record: dict[str, object] = asdict(event)
    record["occurred_at"] = event.occurred_at.isoformat()
    return record


def _row(event: AccessEvent) -> tuple[str, ...]:
    return (
        when(event.occurred_at, seconds=True),
        event.kind,
        event.host,
        event.category,
        event.access,
        event.action,
        event.reason,
        event.rule or "-",
        event.instance,
        str(event.requests),
    )
