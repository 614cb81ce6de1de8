"""Durations as the policy file writes them: `30m`, `8h`, `14d`, `365d`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"(\d{1,6})([smhdw])")


def parse_duration(text: object) -> timedelta:
    """`'8h'` -> 8 hours; anything else raises ValueError saying what is expected."""
    if not isinstance(text, str):
        raise ValueError(f"bad duration {text!r}: expected a string such as '30m', '8h' or '14d'")
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"bad duration {text!r}: expected a number and a unit (s, m, h, d, w), "
            "such as '30m', '8h' or '14d'"
        )
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def format_duration(span: timedelta) -> str:
    """The shortest policy-file spelling of `span` (`timedelta(days=14)` -> `'14d'`)."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
