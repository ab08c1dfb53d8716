"""`python -m bot.cli`: the installed `opsbot` script, from a checkout."""

import sys

from bot.cli.program import main

if __name__ == "__main__":
    sys.exit(main())
