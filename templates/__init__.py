"""queuedash's standard Jinja2 templates (*.j2), installed as `queuedash.templates`.

Not Python: this file only makes the folder package data that importlib.resources
finds in a wheel and in an editable install alike.
"""

if __name__ != "queuedash.templates":  # pragma: no cover - the guard itself
    raise ImportError(f"queuedash's templates are found as queuedash.templates, not {__name__!r}")
