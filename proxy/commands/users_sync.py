"""`leeway users sync --ldap URL ...`: people and directory-group roles from LDAP or AD.

One-shot (for a systemd timer). Each option also has its `LEEWAY_LDAP_<NAME>` variable; the
bind password comes from `--bind-password-file` or `LEEWAY_LDAP_BIND_PASSWORD`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.commands import CommandError, Context, now, options
from proxy.commands.flags import add_setting_flags, flagged, settings_from_arguments
from proxy.directory.client import DirectoryClient, DirectoryError, Endpoint
from proxy.directory.entries import MappingError, attribute_map
from proxy.directory.groups import GroupRoleError, group_role
from proxy.directory.plan import changes
from proxy.directory.settings import LdapSettings
from proxy.directory.sync import Outcome, Search, run_sync
from proxy.settings import SettingError

if TYPE_CHECKING:
    import argparse

    from proxy.commands import Subparsers

MANAGER_ROLE = "manager"  # `leeway report`'s role model counts it though no rule names it
DEST_PREFIX = "ldap_"  # clear of Leeway's own settings


def register(commands: Subparsers) -> None:
    sync = commands.add_parser(
        "sync",
        parents=[options(store=True, policy=True)],
        help="add, update and deactivate users from LDAP or Active Directory",
        description="Every option also has its LEEWAY_LDAP_<NAME> variable; the password"
        " is read from --bind-password-file or LEEWAY_LDAP_BIND_PASSWORD. --attribute and"
        " --group-role may be given again and again.",
        allow_abbrev=False,  # `--bind-password SECRET` must not pass for --bind-password-file
    )
    add_setting_flags(sync, flagged(LdapSettings), LdapSettings, DEST_PREFIX)
    sync.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    sync.set_defaults(handler=run_users_sync)


def ldap_settings(args: argparse.Namespace) -> LdapSettings:
    try:
        return settings_from_arguments(LdapSettings, args, DEST_PREFIX)
    except SettingError as e:
        raise CommandError(f"users sync: {e}") from None


def run_users_sync(args: argparse.Namespace, context: Context) -> int:
    settings = ldap_settings(args)
    try:
        password = settings.read_password()
        search = Search(
            settings.base,
            settings.filter,
            attribute_map(settings.attribute),
            tuple(group_role(text) for text in settings.group_role),
            settings.page_size,
        )
    except (ValueError, MappingError, GroupRoleError) as e:
        raise CommandError(f"users sync: {e}") from None
    _warn_unknown_roles(context, search)
    endpoint = Endpoint(
        settings.url, settings.bind_dn, password, settings.ca_file, settings.timeout
    )
    engine = context.engine()
    try:
        with DirectoryClient(endpoint) as client:
            outcome = run_sync(engine, client, search, now(), dry_run=args.dry_run)
    except DirectoryError as e:
        raise CommandError(f"users sync: {e}: nothing changed") from None
    context.say(*describe(outcome, settings.url, dry_run=args.dry_run))
    for note in outcome.dropped:
        print(f"{note.dn}: {note.reason}", file=context.err)
    return 0


def _warn_unknown_roles(context: Context, search: Search) -> None:
    known = context.policy().roles | {MANAGER_ROLE}
    for _, role in search.group_roles:
        if role not in known:
            print(f"note: no rule of the policy names the role {role!r}", file=context.err)


def describe(outcome: Outcome, url: str, *, dry_run: bool) -> list[str]:
    p = outcome.plan
    lines = [f"would {line}" for line in _changes(outcome)] if dry_run else []
    left = f", {p.left_revoked} left revoked (revoked by hand)" if p.left_revoked else ""
    if p.retired:
        left += f"; {len(p.retired)} former users renamed to free their names"
    lines.append(
        f"{url}: {outcome.found} people found: {len(p.added)} added, {len(p.changed)} changed,"
        f" {len(p.deactivated)} deactivated, {len(p.reactivated)} reactivated,"
        f" {p.unchanged} unchanged; role grants: {len(p.grants_added)} added,"
        f" {len(p.grants_ended)} ended{left}"
    )
    if dry_run:
        lines.append("dry run: nothing written")
    return lines


def _changes(outcome: Outcome) -> list[str]:
    p = outcome.plan
    lines = [f"add {v.username} ({v.display_name}, {v.department}, {v.email})" for v in p.added]
    for user, values in p.changed:
        diffs = [f"{name} {b!r} -> {a!r}" for name, b, a in changes(user, values)]
        lines.append(f"change {user.username}: {', '.join(diffs)}")
    lines += [
        f"rename {user.username} to {name} (another directory entry now has the name)"
        for user, name in p.retired
    ]
    lines += [f"deactivate {user.username}" for user in p.deactivated]
    lines += [f"reactivate {user.username}" for user, _ in p.reactivated]
    lines += [f"grant {role} to {name} ({group})" for name, role, group in p.grants_added]
    lines += [f"end {g.role} of {name} ({g.group})" for g, name in p.grants_ended]
    return lines
