"""A real Leeway proxy whose chain starts with a part that raises on every request.

Run as the proxy process by tests/e2e/test_chain_failure.py: the same serve loop as
`leeway run`, with one addon before Leeway's own (serve_loop's `first`), so the test can
show that an error in a part never lets a request through unenforced.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mitmproxy import http

from proxy.commands import open_store
from proxy.logs import configure_proxy_logging
from proxy.runtime.serve import serve_loop
from proxy.runtime.startup import RunConfig, load_run_policy, preflight
from proxy.settings import Settings


class Raising:
    """A part with a bug: it raises before Leeway's own parts have decided."""

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        raise LookupError(f"test part raising for {flow.request.pretty_host}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="raising_proxy")
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--listen-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--confdir", type=Path, required=True)
    parser.add_argument("--set", dest="mitm_options", action="append", default=[])
    args = parser.parse_args(argv)
    settings = Settings(
        db_url=args.db_url,
        policy=None,
        listen_port=args.listen_port,
        confdir=args.confdir,
        metrics_port=args.metrics_port,
    )
    config = RunConfig.from_settings(settings, args.mitm_options)
    engine = open_store(args.db_url)
    policy = load_run_policy(config.policy_path, config.portal_host)
    key = preflight(config, engine)
    configure_proxy_logging()
    return asyncio.run(serve_loop(config, engine, policy, key, first=(Raising(),)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
