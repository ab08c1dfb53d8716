"""Subcommands that make or read a state repo: `init`, `reindex`, `verify`, and those the
features declare (`opsbot metrics`), run on the repo as the bot reads it."""

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import READER, existing, in_force_reader, repo_options, repo_paths
from bot.config.host import DEFAULT_BOT_ID
from bot.core.errors import Refused
from bot.core.text import say
from bot.engine.host import CliCommand
from bot.features.catalog import cli_commands, index_tables, kept_refs
from bot.service.assemble import init_repo
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index
from bot.state.repo import MAIN, StateRepo
from bot.state.signing import SigningKeyError

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_init(sub: "Subcommands") -> None:
    p = sub.add_parser("init", help="create a state repo from the template (first commit signed)")
    repo_options(p, positional=True)
    p.add_argument(
        "--admin",
        action="append",
        required=True,
        metavar="USER",
        help="Matrix id of an admin, e.g. @alice:example.org (repeatable)",
    )
    p.add_argument("--bot", default=DEFAULT_BOT_ID, metavar="USER", help="the bot's own Matrix id")
    p.add_argument(
        "--key", type=Path, help="sign with this key (default: make one in the state dir)"
    )
    p.add_argument("--template", type=Path, help=argparse.SUPPRESS)
    p.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    paths = repo_paths(args)
    for place in (paths.repo, paths.state_dir):
        if place.exists() and not place.is_dir():
            say(f"opsbot init: {place} is a file, not a directory: name another", sys.stderr)
            return 2
    try:
        repo = init_repo(
            paths, admins=args.admin, bot_id=args.bot, template=args.template, key_file=args.key
        )
    except (FileExistsError, ValueError, SigningKeyError) as e:
        say(f"opsbot init: {e}", sys.stderr)
        return 2
    key: Path = args.key.absolute() if args.key else paths.signing_key
    say(f"created {paths.repo} (commit {repo.head()})")
    say(f"signing key: {key}")
    say(f"allowed signers (public keys, for git verify-commit): {paths.allowed_signers}")
    say(f"index and journal in {paths.state_dir}")
    again = "" if args.state_dir is None else f" --state-dir {args.state_dir}"
    again += "" if args.key is None or key == paths.signing_key else f" --key {args.key}"
    say(f"next: opsbot shell --repo {args.repo}{again} --as {args.admin[0]}")
    return 0


def add_reindex(sub: "Subcommands") -> None:
    p = sub.add_parser("reindex", help="rebuild the SQLite index from the repo's history")
    repo_options(p)
    p.set_defaults(func=_reindex)


def _reindex(args: argparse.Namespace) -> int:
    paths = existing(repo_paths(args))
    repo = in_force_reader(paths)
    paths.index.unlink(missing_ok=True)
    count = Index(paths.index, index_tables()).rebuild(repo)
    say(f"indexed {count} commits into {paths.index}")
    return 0


def add_declared(sub: "Subcommands") -> None:
    """The subcommands the features declare, each on a state repo."""
    for command in cli_commands():
        p = sub.add_parser(command.name, help=command.help)
        repo_options(p)
        command.add_arguments(p)
        p.set_defaults(func=functools.partial(_declared, command))


def _declared(command: CliCommand, args: argparse.Namespace) -> int:
    paths = existing(repo_paths(args))
    repo = in_force_reader(paths)
    index = Index(paths.index, index_tables())
    try:
        return command.run(repo, paths, index, args)
    finally:
        index.close()
        repo.close()


def add_verify(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "verify",
        help="check every commit on main and the runs ref is signed by an allowed signer",
    )
    repo_options(p)
    p.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="the public keys to trust (default: <state-dir>/allowed_signers)",
    )
    p.set_defaults(func=_verify)


def _looks_like_a_public_key(file: Path) -> bool:
    """A `.pub` file's line starts with the key's type, where an allowed signer's starts with
    who may sign."""
    try:
        lines = [line for line in file.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return False
    return bool(lines) and all(
        line.split()[0].startswith(("ssh-", "ecdsa-", "sk-")) for line in lines
    )


def _verify(args: argparse.Namespace) -> int:
    """Checks the signature of every commit on main and on the refs features keep beside it
    (the runs ref) against public keys only (the allowed-signers file, as `git verify-commit`
    does), so that anyone can check a repo without its secrets."""
    paths = existing(repo_paths(args))
    file: Path = args.allowed_signers or paths.allowed_signers
    if not file.is_file():
        raise Refused(
            f"no allowed-signers file at {file}; give one with --allowed-signers FILE "
            "(the lines opsbot keygen printed)"
        )
    signers = AllowedSigners.read(file)
    if not signers.keys and _looks_like_a_public_key(file):
        raise Refused(
            f"{file} is a public key, not an allowed-signers file: each line of one names who "
            'may sign first, like @opsbot:example.org namespaces="git" ssh-ed25519 AAAA... '
            "(opsbot keygen prints that line)"
        )
    for problem in signers.problems:
        say(f"allowed signers: {problem}", file=sys.stderr)
    repo = StateRepo(paths.repo, committer=READER, signer=None)
    bad = 0
    total = 0
    tips = [repo.git.refs[ref] for ref in (MAIN, *kept_refs()) if ref in repo.git.refs]
    for entry in repo.git.get_walker(include=tips):
        total += 1
        if not signers.verifies(entry.commit):
            bad += 1
            say(f"unsigned or bad signature: {entry.commit.id.decode()}")
    say(f"{total - bad} of {total} commits signed by a key in {file}")
    return 1 if bad else 0
