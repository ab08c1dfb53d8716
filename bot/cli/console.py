"""`opsbot shell`: the engine on a state repo, with the console for a transport."""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import existing, repo_options, repo_paths
from bot.service.assemble import open_engine
from bot.transport import console

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_shell(sub: "Subcommands") -> None:
    p = sub.add_parser("shell", help="a local console on a state repo (reads stdin when piped)")
    repo_options(p)
    p.add_argument(
        "--as", dest="sender", required=True, metavar="USER", help="act as this Matrix id"
    )
    p.add_argument("--key", type=Path, help="signing key (default: <state-dir>/signing_key)")
    p.set_defaults(func=_shell)


def _shell(args: argparse.Namespace) -> int:
    engine = open_engine(existing(repo_paths(args)), key_file=args.key)
    return console.serve(engine, args.sender)
