"""Command-line options generated from settings: one per field with a `Flag`.

The option's name, metavar and help (the field's description, then its default and its
variable) all come from the field, so a default is written once, in `proxy.settings` for
Leeway's own settings or in the settings model of a command of its own (`LrsSettings`,
`LdapSettings`), whose variables have that model's prefix.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING, Any, get_origin

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from policy.durations import format_duration
from proxy.settings import Flag, SettingError, Settings, flag_name, flag_of, variable_name

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pydantic.fields import FieldInfo

# Parsed by argparse so that a bad number is a usage error naming the option.
_ARGPARSE_TYPES: dict[Any, type] = {int: int, float: float}


def add_setting_flags(
    parser: argparse.ArgumentParser,
    names: Iterable[str],
    model: type[BaseSettings] = Settings,
    dest_prefix: str = "",
) -> None:
    """Add the option of each setting in `names` of `model` to `parser`, its value stored
    as `dest_prefix` + the name (a command's own model keeps clear of Leeway's settings).

    Defaults are suppressed so that an option given before the subcommand is not
    overwritten by the subcommand's absent one; the settings model fills in the rest.
    A list setting's option may be given again and again.
    """
    for name in names:
        field = model.model_fields[name]
        flag = flag_of(field)
        if flag is None:
            raise ValueError(f"setting {name} has no Flag: it is not a command-line option")
        help_text = f"{field.description} ({shown(name, field, flag, model)})".replace("%", "%%")
        dest = dest_prefix + name
        if flag.metavar is None:  # a switch turns the default around
            on = field.default is not True
            parser.add_argument(
                flag_name(name, model) if on else flag_name(f"no_{name}"),
                dest=dest,
                action="store_true" if on else "store_false",
                default=argparse.SUPPRESS,
                help=help_text,
            )
        elif get_origin(field.annotation) is list:
            parser.add_argument(
                flag_name(name, model),
                dest=dest,
                action="append",
                metavar=flag.metavar,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            parser.add_argument(
                flag_name(name, model),
                dest=dest,
                type=_ARGPARSE_TYPES.get(field.annotation, str),
                metavar=flag.metavar,
                default=argparse.SUPPRESS,
                help=help_text,
            )


def flagged(model: type[BaseSettings]) -> list[str]:
    """The names of `model`'s settings that are options, in the order they are defined."""
    return [name for name, field in model.model_fields.items() if flag_of(field) is not None]


def settings_from_arguments[M: BaseSettings](
    model: type[M], args: argparse.Namespace, dest_prefix: str = ""
) -> M:
    """`model` from its variables with the options given on top; `SettingError` naming
    each refused option and its variable."""
    given = {
        name: value
        for name in model.model_fields
        if (value := getattr(args, dest_prefix + name, None)) is not None
    }
    try:
        return model(**given)
    except ValidationError as e:
        raise SettingError(
            "; ".join(
                str(SettingError.of(str(error["loc"][0]), error["msg"], model))
                for error in e.errors(include_input=False)
            )
        ) from None


def shown(name: str, field: FieldInfo, flag: Flag, model: type[BaseSettings] = Settings) -> str:
    """`default: 8080; env LEEWAY_LISTEN_PORT`: what the help says after the description."""
    variable = variable_name(name, model)
    if field.is_required():
        return f"required; env {variable}"
    return f"default: {shown_default(field, flag)}; env {variable}"


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
