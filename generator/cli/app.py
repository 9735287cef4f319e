"""What the `queuedash` group hands its commands: the settings, read once.

The group collects its options (and their `QUEUEDASH_*` environment
variables) as overrides; the settings file is read on first use, so commands
that do not need it (`--help`, `agent`) never touch it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import click

from queuedash import settings as settings_module


class App:
    def __init__(self, config: str | None, overrides: dict):
        self.config = config
        self.overrides = overrides

    @cached_property
    def settings(self) -> settings_module.Settings:
        path = self.config
        if path is None and Path(settings_module.DEFAULT_SETTINGS_FILE).is_file():
            path = settings_module.DEFAULT_SETTINGS_FILE
        return settings_module.load(path, self.overrides)


pass_app = click.make_pass_decorator(App)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
