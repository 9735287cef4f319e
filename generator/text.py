"""Jinja2 over templates/: the text of dashboards (descriptions, runbooks, links).

Text only, never dashboard JSON. `StrictUndefined`, so a template that names
something the context lacks fails instead of rendering an empty string; a
failure is a `DefinitionError` naming the template and line.

Imports `errors`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from .errors import DefinitionError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=8)
def environment(folder: str = str(TEMPLATES)) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, folder: Path | None = None, **context) -> str:
    """Render `template` from `folder` (default: the project's templates/)."""
    env = environment(str(folder or TEMPLATES))
    try:
        return env.get_template(template).render(**context).strip()
    except jinja2.TemplateNotFound as exc:
        raise DefinitionError(f"template {exc.name!r} not found in {folder or TEMPLATES}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise DefinitionError(f"{exc.filename or template}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise DefinitionError(f"{template}:{_line_of(exc, template)}: {exc.message}") from None


def _line_of(exc: Exception, template: str) -> str:
    """The template line an error was raised at, from the traceback Jinja2 rewrites."""
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith(template):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line
