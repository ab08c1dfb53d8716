"""The `opsbot` program: its parser, built from each group's subcommands in the order
`opsbot --help` lists them, and the run of the one asked for."""

import argparse
import sys

from bot import __version__
from bot.cli.check import add_check
from bot.cli.console import add_shell
from bot.cli.keys import add_keygen, add_keys
from bot.cli.repo import add_declared, add_init, add_reindex, add_verify
from bot.cli.service import add_install_service, add_run
from bot.cli.upkeep import add_backup, add_migrate, add_restore
from bot.core import logs, shipped
from bot.core.errors import Refused
from bot.core.text import say
from bot.state.signing import SigningKeyError


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="opsbot", description="ChatOps for Matrix; every change is a signed Git commit."
    )
    top.add_argument("--version", action="version", version=f"opsbot {__version__}")
    top.add_argument("--log-format", choices=["logfmt", "json"], default="logfmt")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_init(sub)
    add_run(sub)
    add_shell(sub)
    add_check(sub)
    add_reindex(sub)
    add_declared(sub)  # the features' own: opsbot metrics
    add_verify(sub)
    add_keygen(sub)
    add_keys(sub)
    add_install_service(sub)
    add_migrate(sub)
    add_backup(sub)
    add_restore(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if not words:  # `opsbot` alone: what it can do, not an error about what is missing
        say(parser().format_help().rstrip())
        return 0
    args = parser().parse_args(words)
    logs.setup(args.log_format)
    try:
        return int(args.func(args))
    except (Refused, SigningKeyError, shipped.MissingData) as e:
        say(f"opsbot {args.command}: {e}", sys.stderr)
        return 2
