"""`leeway db upgrade`: migrate the store's database to the newest revision."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy.commands import Context, Subparsers, check_url, options
from proxy.store import migrate
from proxy.store.db import mask_url

if TYPE_CHECKING:
    import argparse


def register(groups: Subparsers) -> None:
    group = groups.add_parser("db", help="manage the store's database")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upgrade = commands.add_parser(
        "upgrade",
        parents=[options(store=True)],
        help="migrate the database to the newest revision (SQLite or PostgreSQL)",
    )
    upgrade.set_defaults(handler=run_upgrade)


def run_upgrade(args: argparse.Namespace, context: Context) -> int:
    url = context.settings.db_url
    check_url(url)
    before = migrate.current(url)
    migrate.upgrade(url)
    after = migrate.current(url)
    change = "already at" if before == after else f"migrated from {before or 'empty'} to"
    context.say(f"database {mask_url(url)}: {change} revision {after} (head)")
    return 0
