"""`leeway run`: the office proxy, with mitmproxy's options passed through.

Its options are generated from the `run` group of `proxy.settings`; only `--set` is not a
setting (mitmproxy's own options, passed on as they are).
"""

from __future__ import annotations

import argparse

from proxy.commands import CommandError, Context, Subparsers, options
from proxy.commands.flags import add_setting_flags
from proxy.settings import RUN, SettingError, settings_in


def register(groups: Subparsers) -> None:
    run = groups.add_parser(
        "run",
        parents=[options(store=True, policy=True)],
        help="run the proxy (mitmproxy with Leeway's addons)",
    )
    add_setting_flags(run, settings_in(RUN))
    run.add_argument(
        "--set",
        dest="mitm_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="any other mitmproxy option (repeatable); an unknown option is an error",
    )
    run.set_defaults(handler=run_proxy)


def run_proxy(args: argparse.Namespace, context: Context) -> int:
    from proxy.runtime.startup import (
        RunConfig,
        StartupError,
        load_run_policy,
        load_run_templates,
    )

    try:
        config = RunConfig.from_settings(context.settings, args.mitm_options)
    except SettingError as e:
        raise CommandError(str(e)) from None
    try:
        # A policy or a template with a mistake is refused before mitmproxy, which takes
        # seconds to import, is loaded: only this command loads it, and only once both hold.
        policy = load_run_policy(config.policy_path, config.portal_host)
        load_run_templates(config.templates)
        from proxy.fleet.launch import supervise
        from proxy.runtime.serve import serve

        if config.workers > 1:
            return supervise(config, context.engine(), policy, config.workers)
        return serve(config, context.engine(), policy)
    except StartupError as e:
        raise CommandError(f"leeway run: {e}") from None
