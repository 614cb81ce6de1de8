"""`leeway requests list|approve|deny`: the requests for a role that staff make from a page.

Approving makes a role grant (as `grants add` does, and the proxies hear of it within
seconds); denying records the reason the person sees. What staff typed is printed escaped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from policy.requestable import NotRequestable, check_requestable
from proxy.commands import CommandError, Context, Subparsers, now, option_time, options
from proxy.plain_text import aligned, printable, when
from proxy.store.access_requests import (
    RequestError,
    RequestView,
    State,
    approve,
    deny,
    list_requests,
    pending_request,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

COLUMNS = ("id", "state", "requested", "user", "category", "role", "decided", "justification")
STATES = [state.value for state in State]
JSON_KEYS = """JSON: {state (the --state asked for, or null), requests: [{id, username, category,
role, justification, state, requested_at, decided_at, decided_by, decision_reason,
grant_id}]}; times ISO 8601 UTC, null while pending."""


def register(groups: Subparsers) -> None:
    group = groups.add_parser("requests", help="staff's requests for a role: list, approve, deny")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    list_ = commands.add_parser(
        "list", parents=[options(store=True)], help="list the requests", epilog=JSON_KEYS
    )
    list_.add_argument("--state", choices=STATES, help="only the requests in this state")
    list_.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    list_.set_defaults(handler=run_list)
    deciding = [options(store=True, policy=True, operator=True)]
    yes = commands.add_parser("approve", parents=deciding, help="grant the role asked for")
    yes.add_argument("id", type=int, metavar="ID", help="the request's id (see `requests list`)")
    yes.add_argument("--until", metavar="ISO", help="when the grant ends (default: until revoked)")
    yes.add_argument("--reason", metavar="TEXT", help="why, added to the grant's reason")
    yes.set_defaults(handler=run_approve)
    no = commands.add_parser("deny", parents=deciding, help="refuse, with the reason shown")
    no.add_argument("id", type=int, metavar="ID", help="the request's id (see `requests list`)")
    no.add_argument("--reason", required=True, metavar="TEXT", help="why (the person sees it)")
    no.set_defaults(handler=run_deny)


def run_list(args: argparse.Namespace, context: Context) -> int:
    state = None if args.state is None else State(args.state)
    with context.transaction() as session:
        found = list_requests(session, state)
    if args.json:
        document = {"state": args.state, "requests": [_json(request) for request in found]}
        # ensure_ascii (the default): what staff typed reaches no terminal raw, not even C1 or bidi.
        context.say(json.dumps(document, indent=2))
        return 0
    which = f"{args.state} " if args.state else ""
    context.say(f"{len(found)} {which}access requests, oldest first")
    if found:
        context.say(*aligned([COLUMNS, *(_row(request) for request in found)]))
    return 0


def run_approve(args: argparse.Namespace, context: Context) -> int:
    moment = now()
    until = None if args.until is None else option_time(args.until, "--until", moment)
    if until is not None and until <= moment:
        raise CommandError(f"--until {args.until!r} ({when(until)}) is not in the future")
    policy = context.policy()
    with context.transaction() as session:
        request = _decided(lambda: pending_request(session, args.id))
        try:
            check_requestable(policy, request.category, request.role)
        except NotRequestable as e:
            raise CommandError(
                f"access request #{args.id} cannot be approved: {e}; the policy changed since"
                " it was made: deny it instead"
            ) from None
        done = _decided(
            lambda: approve(
                session,
                args.id,
                operator=context.settings.operator,
                until=until,
                reason=args.reason,
                now=moment,
            )
        )
    period = f"until {when(until)}" if until else "until revoked"
    context.say(
        f"approved access request #{done.id}: role {done.role} granted to"
        f" {printable(done.username)} {period} (by {printable(context.settings.operator)},"
        f" grant #{done.grant_id})"
    )
    return 0


def run_deny(args: argparse.Namespace, context: Context) -> int:
    with context.transaction() as session:
        done = _decided(
            lambda: deny(
                session,
                args.id,
                operator=context.settings.operator,
                reason=args.reason,
                now=now(),
            )
        )
    context.say(
        f"denied access request #{done.id} of {printable(done.username)} for role"
        f" {printable(done.role)} on {printable(done.category)}:"
        f" {printable(done.decision_reason or '')}"
    )
    return 0


def _decided(decide: Callable[[], RequestView]) -> RequestView:
    """`decide()`, its refusal (unknown, not pending, bad text) turned into exit 1."""
    try:
        return decide()
    except RequestError as e:
        raise CommandError(str(e)) from None


def _json(request: RequestView) -> dict[str, object]:
    return {
        "id": request.id,
        "username": request.username,
        "category": request.category,
        "role": request.role,
        "justification": request.justification,
        "state": request.state.value,
        "requested_at": request.requested_at.isoformat(),
        "decided_at": None if request.decided_at is None else request.decided_at.isoformat(),
        "decided_by": request.decided_by,
        "decision_reason": request.decision_reason,
        "grant_id": request.grant_id,
    }


def _row(request: RequestView) -> tuple[str, ...]:
    decided = "-"
    if request.decided_at is not None:
        decided = f"{when(request.decided_at)} by {request.decided_by}"
        if request.decision_reason:
            decided += f": {request.decision_reason}"
    cells = (request.username, request.category, request.role, decided, request.justification)
    return (
        str(request.id),
        request.state.value,
        when(request.requested_at),
        *(printable(cell) for cell in cells),
    )
