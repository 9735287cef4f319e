"""`python -m generator`: the queuedash command."""

from .cli import main

main()
