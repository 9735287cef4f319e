"""The `queuedash` console script: checks that the command's extra is installed.

`pip install queuedash[agent]` (the agent, in a worker) installs the script
too but not the command's dependencies; a missing one is one line saying what
to install, not an ImportError traceback. Imports nothing at module level.
"""

from __future__ import annotations

import sys

#: What `pip install queuedash[cli]` brings, by import name.
CLI_IMPORTS = ("click", "grafanalib", "jinja2", "orjson", "requests", "tomlkit", "yaml")


def main() -> None:
    try:
        from queuedash.cli.main import main as run
    except ModuleNotFoundError as exc:
        if exc.name in CLI_IMPORTS:
            print(f"Error: the queuedash command needs {exc.name}, which comes with its cli extra: "
                  "pip install 'queuedash[cli]'", file=sys.stderr)
            sys.exit(1)
        raise
    run()
