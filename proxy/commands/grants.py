"""`leeway grants add` and `leeway grants revoke`: roles given to users for a period.

Only roles that the policy's rules name can be granted; the operator is recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.commands import (
    CommandError,
    Context,
    Subparsers,
    now,
    option_time,
    options,
    require_user,
)
from proxy.plain_text import when
from proxy.store.grants import GrantRecord, add_grant, revoke_grants
from proxy.store.notify import notify_changed

if TYPE_CHECKING:
    import argparse

MAX_REASON = 1000


def register(groups: Subparsers) -> None:
    group = groups.add_parser("grants", help="grant and revoke roles")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parents = [options(store=True, policy=True, operator=True)]
    add = commands.add_parser("add", parents=parents, help="grant a role to a user")
    add.add_argument("username", metavar="USERNAME")
    add.add_argument("role", metavar="ROLE")
    add.add_argument("--starts", metavar="ISO", help="when the grant starts (default: now)")
    add.add_argument("--until", metavar="ISO", help="when it ends (default: until revoked)")
    add.add_argument("--reason", metavar="TEXT", help="why the role is granted")
    add.set_defaults(handler=run_add)
    revoke = commands.add_parser(
        "revoke", parents=parents, help="revoke a user's active and future grants of a role"
    )
    revoke.add_argument("username", metavar="USERNAME")
    revoke.add_argument("role", metavar="ROLE")
    revoke.set_defaults(handler=run_revoke)


def run_add(args: argparse.Namespace, context: Context) -> int:
    role: str = args.role
    roles = context.policy().roles
    if role not in roles:
        known = ", ".join(sorted(roles)) or "none: no rule in the policy names a role"
        raise CommandError(f"unknown role {role!r} (known: {known})")
    moment = now()
    starts = option_time(args.starts, "--starts", moment)
    until = option_time(args.until, "--until", moment) if args.until is not None else None
    if until is not None and until <= starts:
        raise CommandError(
            f"--until {args.until!r} ({when(until)}) must be after the start ({when(starts)})"
        )
    reason: str | None = args.reason.strip() if args.reason else None
    if reason is not None and len(reason) > MAX_REASON:
        raise CommandError(f"--reason is longer than {MAX_REASON} characters")
    with context.transaction() as session:
        user = require_user(session, args.username)
        grant = add_grant(
            session,
            user,
            GrantRecord(role, starts, until, reason, granted_by=context.settings.operator),
            now=moment,
        )
        notify_changed(session, [args.username])
    context.say(f"granted role {role} to {args.username}: {_describe(grant)}")
    return 0


def run_revoke(args: argparse.Namespace, context: Context) -> int:
    with context.transaction() as session:
        user = require_user(session, args.username)
        revoked = revoke_grants(
            session, user, args.role, operator=context.settings.operator, now=now()
        )
        notify_changed(session, [args.username] if revoked else [])
    if not revoked:
        raise CommandError(
            f"user {args.username!r} has no active or future grant of role {args.role!r}"
        )
    for grant in revoked:
        context.say(f"revoked role {grant.role} from {args.username}: was {_describe(grant)}")
    return 0


def _describe(grant: GrantRecord) -> str:
    until = f"until {when(grant.ends_at)}" if grant.ends_at else "until revoked"
    reason = f", reason: {grant.reason}" if grant.reason else ""
    return f"from {when(grant.starts_at)} {until} (by {grant.granted_by}{reason})"
