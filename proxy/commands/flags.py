"""Command-line options generated from the settings: one per `Settings` field with a `Flag`.

The option's name, metavar and help (the field's description, then its default and its
variable) all come from the field, so a default is written once, in `proxy.settings`.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from policy.durations import format_duration
from proxy.settings import Flag, Settings, flag_name, flag_of, variable_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pydantic.fields import FieldInfo

# Parsed by argparse so that a bad number is a usage error naming the option.
_ARGPARSE_TYPES: dict[Any, type] = {int: int, float: float}


def add_setting_flags(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the option of each setting in `names` to `parser`.

    Defaults are suppressed so that an option given before the subcommand is not
    overwritten by the subcommand's absent one; `Settings` fills in the rest.
    """
    for name in names:
        field = Settings.model_fields[name]
        flag = flag_of(field)
        if flag is None:
            raise ValueError(f"setting {name} has no Flag: it is not a command-line option")
        help_text = f"{field.description} ({shown(name, field, flag)})".replace("%", "%%")
        if flag.metavar is None:  # a switch turns the default around
            on = field.default is not True
            parser.add_argument(
                flag_name(name) if on else flag_name(f"no_{name}"),
                dest=name,
                action="store_true" if on else "store_false",
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag_name(name),
                dest=name,
                type=_ARGPARSE_TYPES.get(field.annotation, str),
                metavar=flag.metavar,
                default=argparse.SUPPRESS,
                help=help_text,
            )


def shown(name: str, field: FieldInfo, flag: Flag) -> str:
    """`default: 8080; env LEEWAY_LISTEN_PORT`: what the help says after the description."""
    return f"default: {shown_default(field, flag)}; env {variable_name(name)}"


def shown_default(field: FieldInfo, flag: Flag) -> str:
    """The field's default as one would write it on the command line."""
    if flag.shown_default is not None:
        return flag.shown_default
    value = field.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, timedelta):
        return format_duration(value)
    return str(value)
