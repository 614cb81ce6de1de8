"""Trusting the directory's certificate for `--proxyauth ldaps:...`: the system's CAs, or only
the office's own (`--auth-ca-file`), and the server's name always checked.

No mitmproxy here: `leeway run` refuses a CA file it cannot use before it loads mitmproxy.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class CaFileError(ValueError):
    """A CA file that cannot be read or holds no certificate; the message names the file."""


def verifying_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that requires a certificate for the server's name, signed by a CA in
    `ca_file` (PEM, one or more) or, without one, by the system's CAs."""
    try:
        return ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
    except ssl.SSLError as e:  # before OSError, of which it is one
        why = f"no CA certificate in it ({e.reason}): PEM expected"
        raise CaFileError(f"{ca_file}: {why}") from None
    except OSError as e:
        raise CaFileError(f"{ca_file}: cannot read it: {e.strerror}") from None
