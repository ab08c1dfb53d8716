"""opsbot init | run | shell | check | reindex | metrics | verify | keygen | install-service |
migrate | backup | restore | keys"""

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.config.host import DEFAULT_BOT_ID, Config, load
from bot.config.paths import HostPaths
from bot.config.problems import ConfigError
from bot.core import logs, shipped
from bot.core.errors import OpsbotError
from bot.core.files import PUBLIC_FILE, make_dir, private_dir, write_file
from bot.core.text import escaped, say
from bot.features.catalog import sections
from bot.features.runbooks.declaration import ungranted
from bot.features.runbooks.record import RUNS_REF
from bot.features.runbooks.settings import RUNBOOKS
from bot.service.assemble import bot_id_of, bot_identity, init_repo, open_engine
from bot.state.allowed_signers import AllowedSigners
from bot.state.in_force import InForceRecord
from bot.state.index import Index
from bot.state.repo import MAIN, StateRepo
from bot.state.signing import SigningKey, SigningKeyError
from bot.state.view import StateView
from bot.transport import console

if TYPE_CHECKING:
    from bot.service import upgrade

# Commands that only read the repo commit nothing, so the committer they are given never shows.
READER = bot_identity(DEFAULT_BOT_ID)


class Refused(Exception):
    """What a command cannot do, said in one line with what to do instead; exit status 2."""


def load_config(path: Path) -> Config:
    """The host config at `path`, with every feature's section (the catalog lists them)."""
    return load(path, sections())


def _host_config(path: Path) -> Config | None:
    """The host config at `path`; None once what is wrong with it is said on stderr."""
    try:
        return load_config(path)
    except ConfigError as e:
        say(e.message, sys.stderr)
        return None


def _paths(args: argparse.Namespace) -> HostPaths:
    return HostPaths.beside(args.repo, args.state_dir)


def _existing(paths: HostPaths) -> HostPaths:
    """`paths`, once its repo is known to be a state repo (a bare Git repo with a HEAD)."""
    if not paths.repo.exists():
        raise Refused(
            f"no state repo at {paths.repo}; make one with: "
            f"opsbot init {paths.repo} --admin @you:example.org"
        )
    if not (paths.repo / "HEAD").is_file() or not (paths.repo / "objects").is_dir():
        raise Refused(f"{paths.repo} is not a state repo (a bare Git repo made by opsbot init)")
    return paths


def cmd_init(args: argparse.Namespace) -> int:
    paths = _paths(args)
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


def cmd_shell(args: argparse.Namespace) -> int:
    engine = open_engine(_existing(_paths(args)), key_file=args.key)
    return console.serve(engine, args.sender)


def cmd_check(args: argparse.Namespace) -> int:
    if args.live:
        return cmd_check_live(args)
    problems: list[str] = []
    repo_path = args.repo
    config = None
    if args.config:
        try:
            config = load_config(args.config)
            repo_path = repo_path or config.paths.repo
        except ConfigError as e:
            problems += e.message.splitlines()
    if repo_path:
        try:
            repo = StateRepo(repo_path, committer=READER, signer=None)
            view = StateView(repo.snapshot())
            problems += [f"{repo_path}: {p.message}" for p in view.problems()]
            if config is not None:
                held = config.section(RUNBOOKS)
                refused = ungranted(view, held.secrets, held.grants)
                problems += [f"{repo_path}: {p.message}" for p in refused]
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


def _in_force_reader(paths: HostPaths) -> StateRepo:
    """The repo read as the bot reads it: history is what is in force, not whatever was pushed."""
    return StateRepo(
        paths.repo, committer=READER, signer=None, in_force=InForceRecord(paths.in_force)
    )


def cmd_reindex(args: argparse.Namespace) -> int:
    paths = _existing(_paths(args))
    repo = _in_force_reader(paths)
    paths.index.unlink(missing_ok=True)
    count = Index(paths.index).rebuild(repo)
    say(f"indexed {count} commits into {paths.index}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from bot.engine.kinds import ArgError
    from bot.features.metrics import command_line
    from bot.features.metrics.commands import DEFAULT_WINDOW, window

    paths = _existing(_paths(args))
    try:
        since = window(args.since) if args.since else DEFAULT_WINDOW
    except ArgError as e:
        raise Refused(f"--since {args.since!r} {e}") from None
    repo = _in_force_reader(paths)
    index = Index(paths.index)
    try:
        say(command_line.run(repo, index, args.scope, since, args.format))
    except ValueError as e:
        raise Refused(str(e)) from None
    finally:
        index.close()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Checks the signature of every commit on main and on the runs ref against public keys
    only (the allowed-signers file, as `git verify-commit` does), so that anyone can check a
    repo without its secrets."""
    paths = _existing(_paths(args))
    file: Path = args.allowed_signers or paths.allowed_signers
    if not file.is_file():
        raise Refused(
            f"no allowed-signers file at {file}; give one with --allowed-signers FILE "
            "(the lines opsbot keygen printed)"
        )
    signers = AllowedSigners.read(file)
    for problem in signers.problems:
        say(f"allowed signers: {problem}", file=sys.stderr)
    repo = StateRepo(paths.repo, committer=READER, signer=None)
    bad = 0
    total = 0
    tips = [repo.git.refs[ref] for ref in (MAIN, RUNS_REF) if ref in repo.git.refs]
    for entry in repo.git.get_walker(include=tips):
        total += 1
        if not signers.verifies(entry.commit):
            bad += 1
            say(f"unsigned or bad signature: {entry.commit.id.decode()}")
    say(f"{total - bad} of {total} commits signed by a key in {file}")
    return 1 if bad else 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _host_config(args.config)
    if config is None:
        return 2
    if config.matrix is None:
        say(f"{args.config}: [matrix] is missing; opsbot run serves Matrix", sys.stderr)
        return 2
    from bot.service import run as service  # imports nio, which the other subcommands do not need

    return service.run(config)


def cmd_keygen(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not args.force:
        say(f"opsbot keygen: {out} exists (use --force to replace it)", sys.stderr)
        return 2
    key = SigningKey.generate()
    if not out.parent.exists():
        private_dir(out.parent)
    key.save(out)
    say(f"wrote {out} and {out}.pub ({key.fingerprint()})")
    say("allowed-signers line (for gpg.ssh.allowedSignersFile):")
    say(key.allowed_signers_line(args.principal))
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """The bot's identity (`opsbot keys`), a new one (`opsbot keys reset`), and the operator's
    side of emoji verification (`verifications`, `confirm ID`, `reject ID`)."""
    from bot.service import keys  # imports nio, which most subcommands do not need

    config = _host_config(args.config)
    if config is None:
        return 2
    if config.matrix is None:
        raise Refused(f"{args.config}: [matrix] is missing; the bot's keys are its Matrix identity")
    try:
        if args.action == "reset":
            lines = keys.reset_identity(config)
        elif args.action == "verifications":
            lines = keys.verifications(config)
        elif args.action in ("confirm", "reject"):
            if args.id is None:
                raise keys.KeysError(
                    f"which verification? opsbot keys {args.action} ID (opsbot keys "
                    "verifications lists them)"
                )
            lines = keys.decide(config, args.id, args.action)
        else:
            lines = keys.show(config)
    except keys.KeysError as e:
        say(f"opsbot keys {args.action}: {e}", sys.stderr)
        return 1
    say("\n".join(lines))
    return 0


def cmd_install_service(args: argparse.Namespace) -> int:
    """The unit, starting this very opsbot, and the example config unless one is there."""
    executable = _opsbot_executable()
    if executable is None:
        say("opsbot install-service: cannot find the opsbot executable", sys.stderr)
        return 2
    prefix: Path = args.prefix
    unit = prefix / "etc/systemd/system/opsbot.service"
    config = prefix / "etc/opsbot/opsbot.toml"
    text = shipped.systemd("opsbot.service").read_text()
    start = "ExecStart=/usr/local/bin/opsbot "
    assert start in text, "the shipped unit starts /usr/local/bin/opsbot"
    # In a unit file, % starts a specifier and a space ends the path unless it is quoted.
    escaped = str(executable).replace("%", "%%")
    escaped = f'"{escaped}"' if any(c.isspace() for c in escaped) else escaped
    make_dir(unit.parent)
    write_file(unit, text.replace(start, f"ExecStart={escaped} ").encode(), PUBLIC_FILE)
    say(f"wrote {unit} (ExecStart={executable})")
    for path in dict.fromkeys([executable, Path(sys.executable).resolve()]):
        if hidden_from_the_service(path):
            say(
                f"warning: the service cannot see {path} (ProtectHome=, PrivateTmp=): "
                "install opsbot outside home directories and /tmp, e.g. in a venv in /opt/opsbot",
                sys.stderr,
            )
    # Root-owned and not writable by the service: what it runs, and what it is told.
    # Made or tightened: a hooks.d anyone may write to would run anyone's code.
    hooks = make_dir(prefix / "etc/opsbot/hooks.d")
    for name, data in shipped.read_tree(shipped.systemd("hooks.d")).items():
        # The example runbooks' programs; one the operator changed is theirs, and kept.
        if (hooks / name).exists():
            say(f"kept {hooks / name} (it exists)")
        else:
            write_file(hooks / name, data, 0o755)
            say(f"wrote {hooks / name}")
    private_dir(prefix / "etc/opsbot/credentials")
    if config.exists():
        say(f"kept {config} (it exists)")
    else:
        # No secret in it, and the service's dynamic user must read it.
        write_file(config, shipped.systemd("opsbot.toml.example").read_bytes(), PUBLIC_FILE)
        say(f"wrote {config} (an example: set homeserver and user_id)")
    say(next_steps())
    return 0


# The service path, step by step, written once: `install-service` prints the steps after its
# own, `python -m bot.docs` copies them all into the README's "Run it as a service", and
# tests/test_readme_service.py follows the README's copy in a fresh directory.
SERVICE_STEPS = """\
# 1. the unit, starting this opsbot, and an example host config (kept if there is one)
opsbot install-service
# 2. set homeserver and user_id (the bot's Matrix account) in the host config
editor /etc/opsbot/opsbot.toml
# 3. the bot's password, readable by root alone; systemd hands it to the service
#    (type it, then Ctrl-D; or encrypt it for this host with systemd-creds encrypt
#    --name=password - /etc/opsbot/credentials/password.cred and LoadCredentialEncrypted=)
install -m 0600 /dev/stdin /etc/opsbot/credentials/password
# 4. the key that signs every commit, made once; keep the allowed-signers line it prints
opsbot keygen --out /etc/opsbot/credentials/signing_key --principal @opsbot:example.org
# 5. the state repo in the service's state directory, its first commit signed with that key
opsbot init /var/lib/opsbot/state.git --state-dir /var/lib/opsbot \\
  --key /etc/opsbot/credentials/signing_key --bot @opsbot:example.org --admin @you:example.org
# 6. deploy and health hooks, if any, go in /etc/opsbot/hooks.d (root-owned, not group-writable)
# 7. check the host config and the repo, and try a command from the console if you like
opsbot check --config /etc/opsbot/opsbot.toml
opsbot shell --repo /var/lib/opsbot/state.git --state-dir /var/lib/opsbot \\
  --key /etc/opsbot/credentials/signing_key --as @you:example.org
# 8. start it now and at every boot; its status says "serving N rooms" once it is ready
systemctl daemon-reload
systemctl enable --now opsbot.service
systemctl status opsbot.service
"""


def next_steps() -> str:
    """The service steps after install-service's own."""
    steps = SERVICE_STEPS.split("\n# 2. ", 1)[1]
    return "\nnext, as root:\n# 2. " + steps.rstrip("\n")


def hidden_from_the_service(path: Path) -> bool:
    """Whether the unit's sandbox hides `path`: home directories and the host's /tmp."""
    hidden = ("/home", "/root", "/run/user", "/tmp", "/var/tmp")
    return any(path.is_relative_to(top) for top in hidden)


def _opsbot_executable() -> Path | None:
    """The opsbot script beside this Python (a virtualenv's bin/), else the one on PATH."""
    beside = Path(sys.executable).parent / "opsbot"
    if beside.is_file():
        return beside.absolute()
    found = shutil.which("opsbot")
    return Path(found).absolute() if found else None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="opsbot", description="ChatOps for Matrix; every change is a signed Git commit."
    )
    top.add_argument("--version", action="version", version=f"opsbot {__version__}")
    top.add_argument("--log-format", choices=["logfmt", "json"], default="logfmt")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def repo_args(p: argparse.ArgumentParser, positional: bool = False) -> None:
        if positional:
            p.add_argument("repo", type=Path, help="path of the bare state repo")
        else:
            p.add_argument("--repo", type=Path, required=True, help="path of the bare state repo")
        p.add_argument("--state-dir", type=Path, help="key and index (default: <repo>.opsbot/)")

    p = sub.add_parser("init", help="create a state repo from the template (first commit signed)")
    repo_args(p, positional=True)
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
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", help="serve Matrix rooms, as configured in the host config")
    p.add_argument("--config", type=Path, required=True, help="host config (TOML)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("shell", help="a local console on a state repo (reads stdin when piped)")
    repo_args(p)
    p.add_argument(
        "--as", dest="sender", required=True, metavar="USER", help="act as this Matrix id"
    )
    p.add_argument("--key", type=Path, help="signing key (default: <state-dir>/signing_key)")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser(
        "check", help="validate a host config and a state repo, listing every problem"
    )
    p.add_argument("--config", type=Path, help="host config (TOML)")
    p.add_argument("--repo", type=Path, help="state repo (default: the one the config names)")
    p.add_argument("--live", action="store_true", help="log in, reach the mirrors, check modes")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("reindex", help="rebuild the SQLite index from the repo's history")
    repo_args(p)
    p.set_defaults(func=cmd_reindex)

    p = sub.add_parser(
        "metrics", help="deploy frequency, lead time, change failure rate, time to restore"
    )
    repo_args(p)
    p.add_argument("scope", nargs="?", help="an environment or an app (default: all of them)")
    p.add_argument("--since", metavar="30d|90d|...", help="how far back to look (default 90d)")
    form = p.add_mutually_exclusive_group()
    form.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="JSON, with the weekly series",
    )
    form.add_argument(
        "--csv",
        dest="format",
        action="store_const",
        const="csv",
        help="CSV: figure, n, value, unit, level",
    )
    p.set_defaults(func=cmd_metrics, format="table")

    p = sub.add_parser(
        "verify",
        help="check every commit on main and the runs ref is signed by an allowed signer",
    )
    repo_args(p)
    p.add_argument(
        "--allowed-signers",
        type=Path,
        metavar="FILE",
        help="the public keys to trust (default: <state-dir>/allowed_signers)",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "keygen", help="write an Ed25519 signing key and print its allowed-signers line"
    )
    p.add_argument(
        "--out", type=Path, required=True, help="private key file (the .pub goes beside it)"
    )
    p.add_argument("--principal", default=DEFAULT_BOT_ID, help="the bot's Matrix id")
    p.add_argument("--force", action="store_true", help="replace an existing key")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser(
        "keys",
        help="the bot's Matrix identity (master key, device), its reset, and emoji "
        "verifications from Element",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="show",
        choices=["show", "reset", "verifications", "confirm", "reject"],
        help="show (default); reset: new cross-signing keys, announced; verifications: the "
        "emoji verifications from Element waiting for you; confirm/reject ID: your decision "
        "after comparing the emojis with the person",
    )
    p.add_argument("id", nargs="?", type=int, help="the verification (confirm, reject)")
    p.add_argument("--config", type=Path, required=True, help="host config (TOML)")
    p.set_defaults(func=cmd_keys)

    p = sub.add_parser(
        "install-service", help="install the systemd unit and an example config, then say what next"
    )
    p.add_argument(
        "--prefix", type=Path, default=Path("/"), help="install under this root (default: /)"
    )
    p.set_defaults(func=cmd_install_service)
    _upkeep_parsers(sub)
    return top


# Upkeep: migrate, backup, restore (and check --live). Their own functions, beside the others.


def _host(args: argparse.Namespace, command: str) -> "upgrade.Host | None":
    """The repo, state dir, bot and key, from --config or from --repo/--state-dir/--key."""
    from bot.service import upgrade

    if getattr(args, "config", None):
        config = _host_config(args.config)
        if config is None:
            return None
        return upgrade.Host(config.paths, config.bot_id, config.signing_key, config.extra_signers)
    if getattr(args, "repo", None) is None:
        say(f"opsbot {command}: give --config, or --repo (and --state-dir)", sys.stderr)
        return None
    paths = _paths(args)
    if not (paths.repo / "HEAD").exists():
        say(f"opsbot {command}: {paths.repo} is not a state repo", sys.stderr)
        return None
    return upgrade.Host(paths, bot_id_of(paths.repo), args.key or paths.signing_key)


def cmd_migrate(args: argparse.Namespace) -> int:
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
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
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


def cmd_restore(args: argparse.Namespace) -> int:
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


def cmd_check_live(args: argparse.Namespace) -> int:
    """One line per check, `ok|warn|fail <check>: <what> [- what to fix]`; 1 if any failed."""
    from bot.service import health

    if not args.config:
        say("opsbot check --live: give --config", sys.stderr)
        return 2
    config = _host_config(args.config)
    if config is None:
        return 2
    findings = health.live(config)
    for finding in findings:
        say(finding.line())
    return 1 if any(f.level == "fail" for f in findings) else 0


def _upkeep_parsers(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    def host_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="host config (TOML)")
        p.add_argument("--repo", type=Path, help="state repo (instead of --config)")
        p.add_argument("--state-dir", type=Path, help="with --repo (default: <repo>.opsbot/)")
        p.add_argument("--key", type=Path, help="with --repo (default: <state-dir>/signing_key)")

    p = sub.add_parser(
        "migrate", help="move a repo and state dir made by an earlier release forward"
    )
    host_args(p)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "backup", help="snapshot what Git does not hold (journals, crypto store, keys)"
    )
    host_args(p)
    p.add_argument("--to", type=Path, required=True, help="a new or empty directory")
    p.add_argument(
        "--no-index",
        dest="index",
        action="store_false",
        help="leave out the index (it is rebuilt from the repo)",
    )
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("restore", help="bring back a bot from a backup and a clone of its repo")
    host_args(p)
    p.add_argument("--from", dest="source", type=Path, required=True, help="a backup directory")
    p.add_argument("--force", action="store_true", help="replace a state dir that is not empty")
    p.set_defaults(func=cmd_restore)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logs.setup(args.log_format)
    try:
        return int(args.func(args))
    except (Refused, SigningKeyError, shipped.MissingData) as e:
        say(f"opsbot {args.command}: {e}", sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
