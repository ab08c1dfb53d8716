"""`opsbot audit`: the change audit report of a period, from the index (brought up to date with
what is in force first), printed or written to a file; and the host view that gives `!audit`
the allowed-signers files."""

import argparse
from pathlib import Path

from bot.config import HostPaths
from bot.core.errors import OpsbotError, Refused
from bot.core.files import write_file
from bot.core.text import say
from bot.engine.host import CliCommand, HostParts
from bot.features.governance import audit_formats, audit_period
from bot.features.governance.audit import AuditKeys, rendered
from bot.features.governance.audit_history import report
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index
from bot.state.repo import StateRepo
from bot.state.view import StateView

REPORT_FILE = 0o640  # an auditor's copy: the names of who asked and who approved


def host_view(parts: HostParts) -> AuditKeys:
    """The bot's allowed-signers file and, where the host config names one, the team's."""
    files = [parts.state_dir / "allowed_signers"]
    if parts.config is not None and parts.config.extra_signers is not None:
        files.append(parts.config.extra_signers)
    return AuditKeys(
        lambda: AllowedSigners.read(*files) if any(f.exists() for f in files) else None
    )


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="DATE", help="the first day of the period (UTC), 2026-10-01")
    p.add_argument("--until", metavar="DATE", help="its last day (default: the end of history)")
    p.add_argument("--env", metavar="ENV", help="one environment (default: all of them)")
    p.add_argument(
        "--format", default="md", metavar="md|csv|json|html", help="the format (default md)"
    )
    p.add_argument("--output", type=Path, metavar="FILE", help="write it here, not to stdout")
    p.add_argument(
        "--allowed-signers",
        type=Path,
        action="append",
        metavar="FILE",
        help="the keys signatures are checked against (default: <state-dir>/allowed_signers); "
        "again for a team's file",
    )


def _command(repo: StateRepo, paths: HostPaths, index: Index, args: argparse.Namespace) -> int:
    try:
        since, until = audit_period.period(args.since, args.until)
        chosen = audit_period.form(args.format)
        if args.env is not None:
            StateView(repo.snapshot()).environment(args.env)
    except OpsbotError as e:  # the command line says only the message: the hint goes in it
        raise Refused(f"{e.message}; {e.hint}" if e.hint else e.message) from None
    files: list[Path] = args.allowed_signers or [paths.allowed_signers]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise Refused(
            f"no allowed-signers file at {missing[0]}; give one with --allowed-signers FILE "
            "(the lines opsbot keygen printed)"
        )
    index.sync(repo)
    found = report(index, AllowedSigners.read(*files), since, until, args.env)
    text = rendered(found, chosen)
    if args.output is None:
        say(text, end="")
        return 0
    write_file(args.output, text.encode(), REPORT_FILE)
    say(f"{args.output}: {audit_formats.summary(found)}")
    return 0


COMMAND = CliCommand(
    "audit",
    "the change audit report of a period: who asked, who approved, every exception",
    _arguments,
    _command,
)
