"""`leeway training sync --lrs URL`: completions from the learning record store (xAPI).

One-shot by default (for cron or a systemd timer); `--follow` keeps reading every period.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from proxy.commands import CommandError, Context, options
from proxy.commands.flags import add_setting_flags, flagged, settings_from_arguments
from proxy.lrs.client import LrsClient, LrsRefused, LrsUnavailable
from proxy.lrs.follow import Follower, serve_metrics
from proxy.lrs.settings import LrsSettings
from proxy.lrs.sync import Syncer
from proxy.settings import SettingError

if TYPE_CHECKING:
    from proxy.commands import Subparsers

DEST_PREFIX = "lrs_"  # clear of Leeway's own settings of the same name (metrics_port)


def register(commands: Subparsers) -> None:
    sync = commands.add_parser(
        "sync",
        parents=[options(store=True, policy=True)],
        help="read completions from a learning record store (xAPI)",
        description="Every option also has its LEEWAY_LRS_<NAME> variable; the password"
        " is read from --lrs-password-file or LEEWAY_LRS_PASSWORD.",
        allow_abbrev=False,  # `--lrs-password SECRET` must not pass for --lrs-password-file
    )
    add_setting_flags(sync, flagged(LrsSettings), LrsSettings, DEST_PREFIX)
    sync.add_argument(
        "--follow", action="store_true", help="keep reading; stop on SIGINT or SIGTERM (exit 0)"
    )
    sync.add_argument(
        "--from-start",
        action="store_true",
        help="read every statement again (skipped ones count if the directory now knows them)",
    )
    sync.set_defaults(handler=run_sync)


def lrs_settings(args: argparse.Namespace) -> LrsSettings:
    try:
        return settings_from_arguments(LrsSettings, args, DEST_PREFIX)
    except SettingError as e:
        raise CommandError(f"training sync: {e}") from None


def run_sync(args: argparse.Namespace, context: Context) -> int:
    settings = lrs_settings(args)
    try:
        password = settings.read_password()
    except ValueError as e:
        raise CommandError(str(e)) from None
    client = LrsClient(settings.url, settings.user, password, settings.page_size)
    syncer = Syncer(
        context.engine(),
        client,
        context.policy(),
        settings.account_home_page,
        authorities=frozenset(settings.authority),
    )
    try:
        if args.follow:
            return _follow(syncer, settings, context)
        tally = syncer.run(from_start=args.from_start)
        context.say(*tally.describe(settings.url))
        return 0
    except (LrsRefused, LrsUnavailable) as e:
        raise CommandError(str(e)) from None
    finally:
        client.close()


def _follow(syncer: Syncer, settings: LrsSettings, context: Context) -> int:
    metrics = None
    if settings.metrics_port:
        try:
            metrics = serve_metrics(settings.metrics_host, settings.metrics_port)
        except OSError as e:
            raise CommandError(
                f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}:"
                f" {e.strerror}"
            ) from None

    def say(line: str) -> None:
        print(line, file=context.err if line.startswith("LRS ") else context.out, flush=True)

    follower = Follower(syncer, settings.every.total_seconds(), metrics, say)
    follower.handle_signals()
    say(f"following {settings.url} every {settings.every.total_seconds():g} s")
    follower.run()
    sys.stdout.flush()
    return 0
