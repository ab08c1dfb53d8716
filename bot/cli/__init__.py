"""`opsbot`, the command line: `program` builds the parser and runs a subcommand; each other
module holds one group of subcommands."""

from bot.cli.program import main

__all__ = ["main"]
