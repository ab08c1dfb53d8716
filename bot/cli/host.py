"""What a subcommand works on, found from its options: the host config (`--config`), or a state
repo and its state directory (`--repo`, `--state-dir`)."""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, HostPaths, load
from bot.config.credentials import beside_the_service
from bot.config.host import DEFAULT_BOT_ID, Config
from bot.core.errors import Refused
from bot.core.text import say
from bot.features.catalog import sections
from bot.service.assemble import bot_identity
from bot.state.in_force import InForceRecord
from bot.state.repo import StateRepo

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

# Commands that only read the repo commit nothing, so the committer they are given never shows.
READER = bot_identity(DEFAULT_BOT_ID)


def load_config(path: Path) -> Config:
    """The host config at `path`, with every feature's section (the catalog lists them)."""
    return load(path, sections())


def config_beside_the_service(path: Path) -> Config | None:
    """The host config at `path`, its secrets read where systemd takes them from (for a
    command run from a root shell, where `/run/credentials/...` is not)."""
    config = host_config(path)
    return None if config is None else beside_the_service(config)


def host_config(path: Path) -> Config | None:
    """The host config at `path`; None once what is wrong with it is said on stderr."""
    try:
        return load_config(path)
    except ConfigError as e:
        say(e.message, sys.stderr)
        return None


def repo_options(p: argparse.ArgumentParser, positional: bool = False) -> None:
    if positional:
        p.add_argument("repo", type=Path, help="path of the bare state repo")
    else:
        p.add_argument("--repo", type=Path, required=True, help="path of the bare state repo")
    p.add_argument("--state-dir", type=Path, help="key and index (default: <repo>.opsbot/)")


def repo_paths(args: argparse.Namespace) -> HostPaths:
    return HostPaths.beside(args.repo, args.state_dir)


def existing(paths: HostPaths) -> HostPaths:
    """`paths`, once its repo is known to be a state repo (a bare Git repo with a HEAD)."""
    if not paths.repo.exists():
        raise Refused(
            f"no state repo at {paths.repo}; make one with: "
            f"opsbot init {paths.repo} --admin @you:example.org"
        )
    if not (paths.repo / "HEAD").is_file() or not (paths.repo / "objects").is_dir():
        raise Refused(f"{paths.repo} is not a state repo (a bare Git repo made by opsbot init)")
    return paths


def in_force_reader(paths: HostPaths) -> StateRepo:
    """The repo read as the bot reads it: history is what is in force, not whatever was pushed."""
    return StateRepo(
        paths.repo, committer=READER, signer=None, in_force=InForceRecord(paths.in_force)
    )
