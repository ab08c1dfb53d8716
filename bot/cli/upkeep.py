"""Upkeep of a bot's repo and state directory: `opsbot migrate` (forward from an earlier
release), `opsbot backup` and `opsbot restore`. Each finds them from the host config, or from
`--repo`, `--state-dir` and `--key` on a host without one."""

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.host import config_beside_the_service, repo_paths
from bot.core.errors import OpsbotError
from bot.core.text import say
from bot.features.catalog import journals, kept_refs
from bot.service.assemble import bot_id_of
from bot.state import layout
from bot.state.schema import version_of

if TYPE_CHECKING:
    from bot.cli.host import Subcommands
    from bot.service import upgrade


def _host_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="host config (TOML)")
    p.add_argument("--repo", type=Path, help="state repo (instead of --config)")
    p.add_argument("--state-dir", type=Path, help="with --repo (default: <repo>.opsbot/)")
    p.add_argument("--key", type=Path, help="with --repo (default: <state-dir>/signing_key)")


def _host(args: argparse.Namespace, command: str) -> "upgrade.Host | None":
    """The repo, state dir, bot and key, from --config or from --repo/--state-dir/--key."""
    from bot.service import upgrade

    if getattr(args, "config", None):
        config = config_beside_the_service(args.config)
        if config is None:
            return None
        return upgrade.Host(
            config.paths,
            config.bot_id,
            config.signing_key,
            config.extra_signers,
            refs=kept_refs(),
            journals=journals(),
        )
    if getattr(args, "repo", None) is None:
        say(f"opsbot {command}: give --config, or --repo (and --state-dir)", sys.stderr)
        return None
    paths = repo_paths(args)
    if not (paths.repo / "HEAD").exists():
        say(f"opsbot {command}: {paths.repo} is not a state repo", sys.stderr)
        return None
    return upgrade.Host(
        paths,
        bot_id_of(paths.repo),
        args.key or paths.signing_key,
        refs=kept_refs(),
        journals=journals(),
    )


def add_migrate(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "migrate", help="move a repo and state dir made by an earlier release forward"
    )
    _host_options(p)
    p.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from bot.service import upgrade

    host = _host(args, "migrate")
    if host is None:
        return 2
    try:
        report = upgrade.migrate(host)
    except upgrade.MigrationWaits as e:
        say(f"opsbot migrate: {e.message}", sys.stderr)
        return 1
    except OpsbotError as e:  # newer than this code, a key missing
        say(f"opsbot migrate: {e.message}", sys.stderr)
        return 2
    for line in report.done:
        say(line)
    for note in report.notes:
        say(f"note: {note}")
    if not report.done:
        say("up to date")
    say(f"current: {_versions(host)}")
    return 0


def add_backup(sub: "Subcommands") -> None:
    p = sub.add_parser(
        "backup", help="snapshot what Git does not hold (journals, crypto store, keys)"
    )
    _host_options(p)
    p.add_argument("--to", type=Path, required=True, help="a new or empty directory")
    p.add_argument(
        "--no-index",
        dest="index",
        action="store_false",
        help="leave out the index (it is rebuilt from the repo)",
    )
    p.set_defaults(func=_backup)


def _backup(args: argparse.Namespace) -> int:
    from bot.service import backup

    host = _host(args, "backup")
    if host is None:
        return 2
    try:
        manifest = backup.backup(host, args.to, with_index=args.index)
    except OpsbotError as e:
        say(f"opsbot backup: {e.message}", sys.stderr)
        return 2
    total = sum(f.size for f in manifest.files)
    say(f"backed up {len(manifest.files)} files ({total} bytes) to {args.to}")
    say(f"repo {manifest.root} at main {manifest.main[:7]}, bot {manifest.bot_id}")
    return 0


def add_restore(sub: "Subcommands") -> None:
    p = sub.add_parser("restore", help="bring back a bot from a backup and a clone of its repo")
    _host_options(p)
    p.add_argument("--from", dest="source", type=Path, required=True, help="a backup directory")
    p.add_argument("--force", action="store_true", help="replace a state dir that is not empty")
    p.set_defaults(func=_restore)


def _restore(args: argparse.Namespace) -> int:
    from bot.service import backup

    host = _host(args, "restore")
    if host is None:
        return 2
    try:
        done = backup.restore(host, args.source, force=args.force)
    except OpsbotError as e:
        say(f"opsbot restore: {e.message}", sys.stderr)
        return 2
    for line in done:
        say(line)
    return 0


def _versions(host: "upgrade.Host") -> str:
    """The versions the repo and each journal are at now, as one line."""
    from bot.service import upgrade

    repo = host.reader()
    try:
        found = [f"state repo layout {layout.version_of(repo.snapshot())}"]
    finally:
        repo.close()
    for journal in (*upgrade.JOURNALS, *host.journals):
        version = version_of(host.paths.state_dir / journal.path)
        if version is not None:
            found.append(f"{journal.path} {version}")
    return ", ".join(found)
