"""`leeway report`: decisions, Continue, blocks, training coverage and trends, in groups only.

What is counted, and how small groups are folded, is described in `proxy.reports.build`; the
CSV columns and JSON keys in `proxy.reports.format.FORMATS` (shown by `leeway report -h`).
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from policy.durations import parse_duration
from proxy.commands import CommandError, Context, Subparsers, now, options
from proxy.reports.build import ReportRefused, Scope, build_report
from proxy.reports.format import FORMATS, to_csv, to_json, to_table

_ROLE = re.compile(r"\S{1,100}")
LONGEST = timedelta(days=3660)  # ten years of days: a trend, not an overflow


def register(groups: Subparsers) -> None:
    report = groups.add_parser(
        "report",
        parents=[options(store=True, policy=True)],
        help="decisions, warnings, blocks and training coverage, never by person",
        description="A report for security teams: no user or host is named, and groups"
        " smaller than --min-group users are folded into 'other' or not shown.",
        epilog=FORMATS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--since", type=_duration, default="7d", metavar="DURATION", help="window (default 7d)"
    )
    report.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="default table"
    )
    report.add_argument("--department", metavar="D", help="only this department")
    report.add_argument(
        "--min-group",
        type=_min_group,
        default=5,
        metavar="K",
        help="smallest group shown on its own (default 5)",
    )
    report.add_argument(
        "--manager-role",
        type=_role,
        default="manager",
        metavar="ROLE",
        help="the role whose holders are the managers in the role-model view (default manager)",
    )
    report.set_defaults(handler=run_report)


def _duration(text: str) -> timedelta:
    try:
        span = parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not span or span > LONGEST:
        raise argparse.ArgumentTypeError(
            f"bad duration {text!r}: expected more than zero and at most {LONGEST.days}d"
        )
    return span


def _min_group(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of users of 1 or more")
    return int(text)


def _role(text: str) -> str:
    if not _ROLE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"bad role name {text!r}")
    return text


def run_report(args: argparse.Namespace, context: Context) -> int:
    until = now()
    scope = Scope(
        since=until - args.since,
        until=until,
        department=args.department,
        min_group=args.min_group,
        manager_role=args.manager_role,
    )
    policy = context.policy()
    try:
        with context.transaction() as session:
            report = build_report(session, policy, scope)
    except ReportRefused as e:
        raise CommandError(f"--department: {e}") from None
    if args.format == "json":
        context.say(to_json(report))
    elif args.format == "csv":
        context.out.write(to_csv(report))
    else:
        context.say(*to_table(report))
    return 0
