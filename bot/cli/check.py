"""`opsbot check`: every problem of a host config and a state repo, the features' own checks
included; with `--live`, the host as the service will meet it."""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import READER, config_beside_the_service, load_config
from bot.config import ConfigError
from bot.core.text import escaped, say
from bot.features.catalog import checks, host_checks, policy_sections
from bot.state.repo import StateRepo
from bot.state.view import StateView

if TYPE_CHECKING:
    from bot.cli.host import Subcommands


def add_check(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "check", help="validate a host config and a state repo, listing every problem"
    )
    p.add_argument("--config", type=Path, help="host config (TOML)")
    p.add_argument("--repo", type=Path, help="state repo (default: the one the config names)")
    p.add_argument("--live", action="store_true", help="log in, reach the mirrors, check modes")
    p.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    if args.live:
        return _check_live(args)
    problems: list[str] = []
    repo_path = args.repo
    config = None
    if args.config:
        try:
            config = load_config(args.config)
            repo_path = repo_path or config.paths.repo
            if config.matrix is None:
                problems.append(
                    f"{args.config}: [matrix]: missing: opsbot run needs the homeserver and the "
                    "bot's account (homeserver, user_id, password_file or access_token_file)"
                )
        except ConfigError as e:
            problems += e.message.splitlines()
    if repo_path:
        try:
            repo = StateRepo(repo_path, committer=READER, signer=None)
            problems += _signers_file_problem(repo, repo_path)
            view = StateView(repo.snapshot(), checks(), policy_sections())
            problems += [f"{repo_path}: {p.message}" for p in view.problems()]
            if config is not None:
                for check in host_checks():
                    problems += [f"{repo_path}: {problem}" for problem in check(config, view)]
        except Exception as e:  # a repo that cannot even be opened is one more problem to list
            problems.append(f"{repo_path}: cannot open the state repo ({e})")
    if not args.config and not repo_path:
        say("opsbot check: give --config and/or --repo", sys.stderr)
        return 2
    for problem in problems:
        say(escaped(problem))  # one line each: a pushed file's name or content is in it
    if not problems:
        say("ok")
    return 1 if problems else 0


def _signers_file_problem(repo: StateRepo, repo_path: Path) -> list[str]:
    """`opsbot init` names the allowed-signers file in the repo's own config, by its absolute
    path: after the repo and its state directory moved, `git verify-commit` fails on every
    commit until the config names where it is now."""
    config = repo.git.get_config()
    try:
        named = config.get((b"gpg", b"ssh"), b"allowedSignersFile").decode()
    except KeyError:
        return []
    if Path(named).is_file():
        return []
    return [
        f"{repo_path}: gpg.ssh.allowedSignersFile names {named}, which is not there, so git "
        "verify-commit fails: git -C REPO config gpg.ssh.allowedSignersFile "
        "<state-dir>/allowed_signers"
    ]


def _check_live(args: argparse.Namespace) -> int:
    """One line per check, `ok|warn|fail <check>: <what> [- what to fix]`; 1 if any failed."""
    from bot.service import health

    if not args.config:
        say("opsbot check --live: give --config", sys.stderr)
        return 2
    config = config_beside_the_service(args.config)
    if config is None:
        return 2
    findings = health.live(config)
    for finding in findings:
        say(finding.line())
    return 1 if any(f.level == "fail" for f in findings) else 0
