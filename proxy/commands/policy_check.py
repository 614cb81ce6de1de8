"""`leeway policy check FILE`: validate a policy file and summarise what it says.

Every mistake goes to stderr as `file: place: reason (line N, toml.path)`, one per line in
file order, then how many there are; the exit code is 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy import Policy, PolicyError, load_policy
from policy.durations import format_duration
from proxy.plain_text import aligned

if TYPE_CHECKING:
    import argparse
    from datetime import timedelta

    from policy.model import Rule
    from proxy.commands import Context, Subparsers


def register(groups: Subparsers) -> None:
    group = groups.add_parser("policy", help="work with policy files")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser("check", help="validate a policy file and print a summary of it")
    check.add_argument("file", metavar="FILE", help="the policy file (TOML) to check")
    check.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace, context: Context) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as e:
        count = len(e.errors)
        for line in [*e.lines(), f"{e.label}: {count} error{'' if count == 1 else 's'}"]:
            print(line, file=context.err)
        return 1
    context.say(*summary(policy))
    return 0


def summary(policy: Policy) -> list[str]:
    """The policy in a few readable lines: settings, categories, modules, rules in order."""
    settings = policy.settings
    lines = [
        f"{policy.source}: valid, revision {policy.revision}",
        f"settings: acknowledgement_ttl {format_duration(settings.acknowledgement_ttl)},"
        f" renewal_notice {format_duration(settings.renewal_notice)}",
        f"categories ({len(policy.categories)}):",
    ]
    categories = [
        (c.name, f"{len(c.domains)} domain{'' if len(c.domains) == 1 else 's'}")
        for c in policy.categories.values()
    ]
    lines.extend(aligned(categories, indent="  "))
    lines.append(f"modules ({len(policy.modules)}):")
    # The validity column is at least 14 wide, as it always was: "never expires" and room.
    modules = [(m.key, _validity(m.valid_for).ljust(14), m.title) for m in policy.modules.values()]
    lines.extend(aligned(modules, indent="  "))
    lines.append(f"rules ({len(policy.rules)}, first match wins; no match: block):")
    lines.extend(f"  {n}. {_rule(rule)}" for n, rule in enumerate(policy.rules, start=1))
    return lines


def _validity(valid_for: timedelta | None) -> str:
    return f"valid {format_duration(valid_for)}" if valid_for else "never expires"


def _rule(rule: Rule) -> str:
    conditions = []
    if rule.training_all:
        conditions.append("training " + " and ".join(m.key for m in rule.training_all))
    if rule.roles_any:
        conditions.append("role " + " or ".join(rule.roles_any))
    when = "; ".join(conditions) if conditions else "everyone"
    return (
        f"{rule.name}: categories {', '.join(rule.categories)}; when {when};"
        f" read {rule.read}, write {rule.write}"
    )
