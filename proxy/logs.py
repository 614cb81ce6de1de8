"""What a proxy process logs, set once by the process's entry point, never by a library.

Leeway's loggers are named `leeway.<area>` (`leeway.audit`, `leeway.changes`, ...), so one
level or handler on `leeway` reaches them all. Administration commands keep Python's
default (warnings and errors only): their output is what they print.
"""

from __future__ import annotations

import logging

PROXY_LEVEL = logging.INFO
# One line per client connection is noise on an office proxy; its errors still show.
QUIETER = {"mitmproxy.proxy.server": logging.WARNING}


def configure_proxy_logging() -> None:
    """Log Leeway's and mitmproxy's INFO lines: `leeway run`, and each of its workers."""
    logging.getLogger().setLevel(PROXY_LEVEL)
    for name, level in QUIETER.items():
        logging.getLogger(name).setLevel(level)
