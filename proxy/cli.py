"""The `leeway` command line: parse the arguments, run one command, return its exit code.

Exit codes: 0 success, 1 refused input (a message on stderr), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys

from pydantic import ValidationError

from policy import PolicyError
from proxy.commands import (
    CommandError,
    Context,
    addresses,
    audit,
    db,
    explain,
    grants,
    options,
    pac,
    policy_check,
    report,
    requests,
    training,
    users,
)
from proxy.commands import run as run_proxy
from proxy.csvimport.rows import ImportRefused
from proxy.logs import configure_proxy_logging
from proxy.settings import SettingError, Settings
from proxy.store.db import StoreUnavailable

COMMAND_GROUPS = (
    run_proxy,
    db,
    policy_check,
    users,
    training,
    grants,
    requests,
    addresses,
    explain,
    audit,
    pac,
    report,
)
REFUSALS = (CommandError, PolicyError, ImportRefused, StoreUnavailable)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leeway",
        description="Leeway: an office web proxy that opens up as staff complete training.",
        parents=[options(store=True, policy=True, operator=True)],
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `leeway` with `argv` (default: the process's arguments); returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed by argparse
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    if args.group == "run":  # the proxy logs what it does; the other commands print it
        configure_proxy_logging()
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run the handler the arguments chose, turning refusals into a message and exit 1."""
    try:
        settings = Settings.from_arguments(args)
    except ValidationError as e:
        for error in e.errors():
            name = ".".join(str(part) for part in error["loc"])
            print(SettingError.of(name, error["msg"]), file=sys.stderr)
        return 1
    context = Context(settings, sys.stdout, sys.stderr)
    try:
        code: int = args.handler(args, context)
    except REFUSALS as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`leeway explain ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        context.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
