"""Jinja2 over templates/: the text of dashboards (descriptions, runbooks, links).

Text only, never dashboard JSON. `StrictUndefined`, so a template that names
something the context lacks fails instead of rendering an empty string.
Autoescape is on for templates whose target is HTML (``.html``), off for
markdown and plain text. Templates are looked up first in the user's own
folder (the settings' `templates`), then in queuedash's `templates/`, so a
user can override a template by name or point a queue at a new one.

A failure is a `DefinitionError` naming the template and the line; callers add
which queue it was rendering for.

Imports `errors`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jinja2

from queuedash.errors import DefinitionError

#: queuedash's own templates, installed with the package (queuedash.templates).
TEMPLATES = Path(str(files("queuedash.templates"))).resolve()


@lru_cache(maxsize=16)
def environment(user_folder: str | None = None) -> jinja2.Environment:
    folders = [str(TEMPLATES)]
    if user_folder and Path(user_folder).resolve() != TEMPLATES:
        folders.insert(0, user_folder)
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm"), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change during a run: no stat of the file per render
    )


def render(template: str, folder: Path | None = None, **context) -> str:
    """Render the template file `template` (user folder first, then templates/)."""
    env = environment(str(folder) if folder else None)
    try:
        return env.get_template(template).render(**context).strip()
    except jinja2.TemplateNotFound as exc:
        where = f"{folder} or {TEMPLATES}" if folder else str(TEMPLATES)
        raise DefinitionError(f"template {exc.name!r} not found in {where}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise DefinitionError(f"template {exc.name or template!r} line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise DefinitionError(f"template {template!r} line {_line_of(exc, template)}: {exc.message}") from None


def render_string(source: str, name: str, **context) -> str:
    """Render a template given as a string (a link URL from the settings)."""
    env = environment(None)
    try:
        return env.from_string(source).render(**context).strip()
    except jinja2.TemplateSyntaxError as exc:
        raise DefinitionError(f"template {name} line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise DefinitionError(f"template {name} line {_line_of(exc, '<template>')}: {exc.message}") from None


def _line_of(exc: Exception, template: str) -> str:
    """The template line an error was raised at, from the traceback Jinja2 rewrites."""
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(template):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line
