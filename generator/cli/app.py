"""What the `queuedash` group hands its commands: the settings, read once.

The group collects its options (and their `QUEUEDASH_*` environment
variables) as overrides; the settings file is read on first use, so commands
that do not need it (`--help`, `agent`) never touch it.

Also the exit statuses every command shares (README, "Exit statuses"), and
`exit_status`, which a command uses to say what its errors mean for a CI job.
"""

from __future__ import annotations

import functools
from functools import cached_property
from pathlib import Path

import click

from queuedash import settings as settings_module
from queuedash.errors import QueuedashError

#: A mistake (settings, definitions, a server that refused): one line on stderr.
EXIT_FAILED = 1
#: A usage mistake (click's own), or, for `diff` and `check`, "could not check".
EXIT_COULD_NOT = 2
#: Stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class App:
    def __init__(self, config: str | None, overrides: dict, debug: bool = False):
        self.config = config
        self.overrides = overrides
        #: --debug: show the traceback behind an error (a definition that raises).
        self.debug = debug

    @cached_property
    def settings(self) -> settings_module.Settings:
        path = self.config
        if path is not None and not path.strip():
            raise settings_module.SettingsError("--config (QUEUEDASH_CONFIG): the settings file name is empty")
        if path is None and Path(settings_module.DEFAULT_SETTINGS_FILE).is_file():
            path = settings_module.DEFAULT_SETTINGS_FILE
        return settings_module.load(path, self.overrides)


pass_app = click.make_pass_decorator(App)

#: An option in seconds (a request's deadline, a definition's limit): more than none, at most a day.
SECONDS = click.FloatRange(min=0, min_open=True, max=settings_module.MAX_SECONDS)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def exit_status(status: int):
    """A command whose every queuedash error exits with `status` (the group prints the line)."""

    def decorate(command):
        @functools.wraps(command)
        def run(*args, **kwargs):
            try:
                return command(*args, **kwargs)
            except QueuedashError as exc:
                exc.exit_status = status
                raise

        return run

    return decorate
