"""`leeway policy check FILE`: validate a policy file and summarise what it says.

Every mistake goes to stderr as `file: place: reason (line N, toml.path)`, one per line in
file order, then how many there are; the exit code is 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy import Policy, PolicyError, load_policy
from policy.durations import format_duration

if TYPE_CHECKING:
    import argparse

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
    width = max((len(name) for name in policy.categories), default=0)
    for category in policy.categories.values():
        count = len(category.domains)
        lines.append(f"  {category.name:<{width}}  {count} domain{'' if count == 1 else 's'}")
    lines.append(f"modules ({len(policy.modules)}):")
    width = max((len(key) for key in policy.modules), default=0)
    for module in policy.modules.values():
        valid = (
            f"valid {format_duration(module.valid_for)}" if module.valid_for else "never expires"
        )
        lines.append(f"  {module.key:<{width}}  {valid:<14}  {module.title}")
    lines.append(f"rules ({len(policy.rules)}, first match wins; no match: block):")
    lines.extend(f"  {n}. {_rule(rule)}" for n, rule in enumerate(policy.rules, start=1))
    return lines


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
