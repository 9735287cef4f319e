"""`python -m stack graphite up|down` (stack/cli.py), run from the repository root."""

import sys

from stack.cli import main

sys.exit(main())
