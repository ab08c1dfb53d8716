"""!audit: the change audit report of a period, sent to the room as an encrypted file, with a
summary line. Read from the index alone (bot/features/governance/audit_index.py); the keys a
signature is checked against are the host's allowed-signers files (`AuditKeys`).

Who may run it: the admins, and a role given the `audit` command in policy.toml (the template's
`auditor`). The report names every requester and approver of the period, so it is not for
everyone."""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from bot.core.effects import Upload
from bot.core.errors import Refused
from bot.engine.context import Context, Outcome
from bot.engine.grammar import Option
from bot.engine.registry import Command
from bot.features.governance import audit_formats, audit_html, audit_period
from bot.features.governance.audit_history import Report, report
from bot.state.allowed_signers import AllowedSigners

NAME = "governance"
DEFAULT_PERIOD = timedelta(days=90)
MAX_BYTES = 20 * 1024 * 1024  # a report larger than this is the command line's to write

RENDER: dict[str, Callable[[Report], str]] = {
    "md": audit_formats.as_markdown,
    "csv": audit_formats.as_csv,
    "json": audit_formats.as_json,
    "html": audit_html.as_html,
}


@dataclass(frozen=True)
class AuditKeys:
    """The keys a report checks signatures against: read when asked (the host view), so that a
    key retired in the allowed-signers file counts from the next report on."""

    read: Callable[[], AllowedSigners | None]


def rendered(found: Report, chosen: str) -> str:
    return RENDER[chosen](found)


def audit(ctx: Context) -> Outcome:
    env = ctx.args.get("env")
    if env is not None:
        env = ctx.state.environment(env).name
    today = ctx.now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = audit_period.period(
        ctx.args.get("since"), ctx.args.get("until"), today - DEFAULT_PERIOD
    )
    chosen = audit_period.form(ctx.args.get("format"), "html")
    keys = ctx.host.get(NAME)
    signers = keys.read() if isinstance(keys, AuditKeys) else None
    found = report(ctx.index, signers, since, until, env)
    line = audit_formats.summary(found)
    room = ctx.invocation.room_id
    if room is None:
        return Outcome(
            f"audit: {line}. No room to send the file to: opsbot audit on the host writes it."
        )
    data = rendered(found, chosen).encode()
    if len(data) > MAX_BYTES:
        raise Refused(
            f"the report is {len(data) // 1024 // 1024} MiB, more than a room takes from me",
            hint="narrow it (--since, --until, an environment), or run opsbot audit on the host",
        )
    upload = Upload(
        room=room,
        name=audit_period.file_name(found, chosen),
        mimetype=audit_period.MIMETYPES[chosen],
        data=base64.b64encode(data).decode(),
        caption=f"change audit, {audit_formats.period(found)}",
        in_reply_to=ctx.invocation.event_id,
    )
    return Outcome(
        f"audit {audit_formats.period(found)}: {line}",
        effects=(upload,),
        extra={"audit": {"file": upload.name, "bytes": len(data)}},
    )


COMMANDS = (
    Command(
        name="audit",
        usage="[<env>]",
        options=(
            Option("--since", "since", "DATE", "its first day (UTC; default: 90 days ago)"),
            Option("--until", "until", "DATE", "its last day (default: up to now)"),
            Option("--format", "format", "html|md|csv|json", "the file's format (default html)"),
        ),
        summary="the change audit report of a period, as a file: who asked, who approved, "
        "exceptions",
        details="Every change to an environment in the period (or one environment): who "
        "requested it, who approved it and whether they were different people, the freeze, "
        "the calendar's freeze window or the lock at that moment, hotfixes and their review "
        "(in time, late or overdue), the commit and whether its "
        "signature verifies against the keys allowed at that time; role, key and approval-rule "
        "changes, adopted and discarded outside commits. Exceptions first. Read from signed "
        "trees and records, never from commit messages.",
        examples=(
            "!audit",
            "!audit --since 2026-10-01",
            "!audit prod --since 2026-10-01 --format csv",
        ),
        handler=audit,
        needs_index=True,
    ),
)
