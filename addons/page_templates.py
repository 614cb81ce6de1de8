"""The Jinja2 environment of Leeway's pages: the bundled templates, an operator's overrides.

Every template is autoescaped and strict (an unknown variable is an error). An operator's
directory is checked when it is loaded: each of its files compiles, and each known page
renders with sample contexts, or `TemplateRefused` names the file and the line.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

logger = logging.getLogger("leeway.pages")

BUNDLED = Path(__file__).with_name("templates")

# A page's sample contexts: each branch an operator's template might take at run time.
type Samples = Mapping[str, Sequence[Mapping[str, object]]]

# What rendering a template can raise: Jinja's own errors, and what an expression in an
# operator's template can do (`{{ 1 + "a" }}`, `{{ x[3] }}`, `{{ 1 / 0 }}`).
RENDER_ERRORS = (
    jinja2.TemplateError,
    TypeError,
    ValueError,
    AttributeError,
    LookupError,
    ArithmeticError,
)


class TemplateRefused(ValueError):
    """A template of the operator's cannot be used: `file:line: reason`."""


@dataclass(frozen=True, slots=True)
class Templates:
    """The pages' templates: the operator's first (if any), then the bundled ones."""

    environment: jinja2.Environment
    # The bundled templates alone, for when an operator's fails on a branch the samples
    # did not take: the person still gets a page.
    fallback: Templates | None = None

    @classmethod
    def load(cls, override_dir: Path | None, samples: Samples | None = None) -> Templates:
        """The templates, with `override_dir`'s first; each sampled page rendered once.

        Raises `TemplateRefused` naming the file and the line of the first mistake.
        """
        if override_dir is None:
            templates = cls(_environment(jinja2.FileSystemLoader(BUNDLED)))
        else:
            if not override_dir.is_dir():
                raise TemplateRefused(f"{override_dir}: not a directory")
            loader = jinja2.ChoiceLoader(
                [jinja2.FileSystemLoader(override_dir), jinja2.FileSystemLoader(BUNDLED)]
            )
            templates = cls(_environment(loader), bundled())
            templates._compile_all(override_dir)
        for name, contexts in (samples or {}).items():
            for context in contexts:
                templates._check(name, context)
        return templates

    def render(self, name: str, **context: object) -> str:
        """The page `name` rendered; from the bundled template if the operator's fails."""
        try:
            return self.environment.get_template(name).render(context)
        except RENDER_ERRORS as e:
            if self.fallback is None:
                raise
            logger.warning("template %s failed (%s): the bundled one is used", name, where(e))
            return self.fallback.environment.get_template(name).render(context)

    def _compile_all(self, directory: Path) -> None:
        """Every file of the operator's compiles: a partial too, included or not yet (hidden
        files, an editor's or a file manager's, are not templates)."""
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            name = path.relative_to(directory).as_posix()
            if any(part.startswith(".") for part in path.relative_to(directory).parts):
                continue
            try:
                self.environment.get_template(name)
            except jinja2.TemplateSyntaxError as e:
                raise TemplateRefused(where(e)) from None
            except UnicodeDecodeError as e:
                raise TemplateRefused(f"{path}: not UTF-8 text ({e.reason})") from None

    def _check(self, name: str, context: Mapping[str, object]) -> None:
        try:
            self.environment.get_template(name).render(context)
        except RENDER_ERRORS as e:
            raise TemplateRefused(where(e)) from None


@functools.cache
def bundled() -> Templates:
    """The templates that ship with Leeway (their tests render every page)."""
    return Templates.load(None)


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        autoescape=True,  # every template, whatever its name: escaping cannot be forgotten
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def where(error: Exception) -> str:
    """`file:line: reason` for an error raised while compiling or rendering a template."""
    if isinstance(error, jinja2.TemplateSyntaxError):
        return f"{error.filename or error.name}:{error.lineno}: {error.message}"
    reason = str(error) or type(error).__name__
    if isinstance(error, jinja2.TemplateNotFound):
        reason = f"no template named {error.name!r}"
    # Jinja rewrites the traceback so that a template's frames carry its file and line;
    # the innermost is where the mistake is (an include or a child, not the layout).
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.endswith(".py")
    ]
    if not frames:
        return reason
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}: {reason}"
