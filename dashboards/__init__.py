"""queuedash's standard dashboard definitions, installed as `queuedash.definitions`.

Each module here is a definition: a `build(settings)` function returning a
dashboard or a list of them. queuedash loads the files by path (names
starting with "_" are skipped), from the settings' `definitions` folder, or
from here when the user has none.
"""

if __name__ != "queuedash.definitions":  # pragma: no cover - the guard itself
    raise ImportError(f"queuedash's definitions are imported as queuedash.definitions, not {__name__!r}")
