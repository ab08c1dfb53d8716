"""`opsbot shell`: the engine on a state repo, with the console for a transport."""

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import existing, repo_options, repo_paths
from bot.core.ids import USER_ID
from bot.core.text import say
from bot.service.assemble import open_engine
from bot.transport import console

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_shell(sub: "Subcommands") -> None:
    p = sub.add_parser("shell", help="a local console on a state repo (reads stdin when piped)")
    repo_options(p)
    p.add_argument(
        "--as",
        dest="sender",
        required=True,
        type=_user_id,
        metavar="USER",
        help="act as this Matrix id, like @alice:example.org",
    )
    p.add_argument("--key", type=Path, help="signing key (default: <state-dir>/signing_key)")
    p.set_defaults(func=_shell)


def _user_id(value: str) -> str:
    # Commits are written under this name, and `opsbot check` calls a commit by a name that is
    # no Matrix id broken: refused here, before anything is written.
    if not USER_ID.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Matrix id like @alice:example.org")
    return value


def _shell(args: argparse.Namespace) -> int:
    # The reply names the commit: the log's line for it would only come between prompt and reply.
    logging.getLogger().setLevel(logging.WARNING)
    engine = open_engine(existing(repo_paths(args)), key_file=args.key)
    try:
        return console.serve(engine, args.sender)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: what was committed stays committed
        say("")
        return 130
    except BrokenPipeError:  # `| head` stopped reading: nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
