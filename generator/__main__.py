"""`python -m queuedash`: the queuedash command."""

from queuedash.cli.main import main

main()
