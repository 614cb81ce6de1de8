"""`leeway pac --proxy HOST:PORT ...`: write the PAC file that points browsers at the fleet.

Categorised sites go only through the proxies, in failover order; a dead fleet closes them
rather than opening them. The file goes to stdout, or replaces `--output FILE` atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.commands import CommandError, now, options
from proxy.commands.flags import add_setting_flags
from proxy.pac import Others, ProxyAddress, ProxyAddressError, parse_proxy, render_pac

if TYPE_CHECKING:
    import argparse

    from proxy.commands import Context, Subparsers


def register(groups: Subparsers) -> None:
    pac = groups.add_parser(
        "pac",
        parents=[options(policy=True)],
        help="write a PAC file that sends categorised sites through the proxies",
    )
    pac.add_argument(
        "--proxy",
        dest="proxies",
        action="append",
        required=True,
        metavar="HOST:PORT",
        help="a Leeway instance; repeat for failover, tried in the order given",
    )
    pac.add_argument(
        "--others",
        choices=[o.value for o in Others],
        default=Others.PROXY.value,
        help="uncategorised sites: through the proxies with DIRECT as a last resort (proxy,"
        " the default), or DIRECT",
    )
    pac.add_argument("--output", metavar="FILE", help="write here instead of stdout")
    add_setting_flags(pac, ["portal_host"])  # as the proxies are run with
    pac.set_defaults(handler=run_pac)


def run_pac(args: argparse.Namespace, context: Context) -> int:
    proxies = parse_proxies(args.proxies)
    policy = context.policy()
    domains = {domain for category in policy.categories.values() for domain in category.domains}
    text = render_pac(
        domains=domains,
        proxies=proxies,
        others=Others(args.others),
        revision=policy.revision,
        source=policy.source,
        generated_at=now(),
        portal_host=context.settings.portal_host,
    )
    if args.output is None:
        context.out.write(text)
        return 0
    write_atomically(Path(args.output), text)
    context.say(
        f"{args.output}: {len(domains)} categorised domains through"
        f" {', '.join(map(str, proxies))} (policy revision {policy.revision})"
    )
    return 0


def parse_proxies(values: list[str]) -> list[ProxyAddress]:
    """The `--proxy` values in order; a refusal for a bad one or one given twice."""
    proxies: list[ProxyAddress] = []
    for value in values:
        try:
            proxy = parse_proxy(value)
        except ProxyAddressError as e:
            raise CommandError(str(e)) from None
        if proxy in proxies:
            raise CommandError(f"--proxy {value!r}: {proxy} is given twice")
        proxies.append(proxy)
    return proxies


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` in one step, so a web server serving it never sends half a file."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise CommandError(f"--output {path}: cannot write: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temporary).chmod(0o644)  # served to every browser: nothing secret in it
        Path(temporary).replace(path)
    except OSError as e:
        Path(temporary).unlink(missing_ok=True)
        raise CommandError(f"--output {path}: cannot write: {e.strerror}") from None
