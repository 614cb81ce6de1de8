"""A password for a service Leeway reads from (the LRS, the directory): from a file, or from
the environment; never from the command line, where `ps` would show it, nor into a log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import SecretStr


def read_password(file: Path | None, variable: SecretStr | None, what: str) -> str | None:
    """The first line of `file` when one is named, else the variable's value, else None.

    A file that cannot be read is a `ValueError` naming `what` and the file, not the text.
    """
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"cannot read the {what} file {file}: {e.strerror}") from None
        lines = text.splitlines()
        return lines[0] if lines else ""
    return variable.get_secret_value() if variable is not None else None
