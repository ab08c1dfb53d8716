"""Reading incidents: the list of them, one of them in full, and its postmortem draft."""

import html
from dataclasses import replace

from bot.core.errors import Refused
from bot.engine.context import Context, Outcome
from bot.engine.grammar import Option
from bot.engine.registry import Command
from bot.features.incidents import postmortem
from bot.features.incidents.common import Files, change, target
from bot.features.incidents.entries import event
from bot.features.incidents.kinds import severity
from bot.features.incidents.records import Incident, scan
from bot.features.incidents.timeline import read as read_timeline
from bot.features.incidents.timeline import stamp, what
from bot.features.timefmt import at, span


def list_(ctx: Context) -> Outcome:
    which = ctx.args.get("which", "open")
    wanted = ctx.args.get("sev")
    readable, unreadable = scan(ctx.state)
    found = [
        i
        for i in readable
        if (which == "all" or i.is_open) and (wanted is None or i.severity == wanted)
    ]
    found.sort(key=lambda i: (not i.is_open, i.severity, -i.number))
    lines = [
        f"{i.id} {i.severity} {i.status}: {i.title} (opened {at(i.opened_at, ctx.now)} by "
        f"{i.reporter}; commander {i.commander})"
        for i in found
    ]
    if not lines:
        which_ones = "open incidents" if which == "open" else "incidents"
        lines = [f"no {which_ones}{f' of {wanted}' if wanted else ''}"]
    # Said, not hidden: whoever can fix the file learns of it, and the others still get a list.
    lines += [f"unreadable: {p.message} (opsbot check lists every problem)" for p in unreadable]
    text = "\n".join(lines)
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def durations(record: Incident) -> list[str]:
    """How long it took to acknowledge, mitigate and resolve, as far as it got."""
    out = []
    for label, moment in (
        ("acknowledge", record.acknowledged_at),
        ("mitigate", record.mitigated_at),
        ("resolve", record.resolved_at),
    ):
        if moment is not None:
            out.append(f"time to {label}: {span(moment - record.opened_at)}")
        else:
            out.append(f"not {label}d yet")
    return out


def show(ctx: Context) -> Outcome:
    record = target(ctx)
    lines = [
        f"{record.id} ({record.severity}, {record.status}): {record.title}",
        f"opened {at(record.opened_at, ctx.now)} by {record.reporter}"
        + (f" in {record.declared_in}" if record.declared_in else ""),
        "roles: " + ", ".join(f"{role} {user}" for role, user in record.roles.items()),
        f"participants: {', '.join(record.participants) or '(none)'}",
        "; ".join(durations(record)),
    ]
    if record.room:
        lines.append(f"room: {record.room}")
    if record.summary:
        lines.append(f"summary: {record.summary}")
    if record.alert_group:
        lines.append(f"alert group: {record.alert_group}")
    timeline = read_timeline(ctx.state, record.id)
    recent = timeline.events()[-5:]
    if recent:
        lines.append("latest:")
        lines += [f"  {stamp(e.at)} {e.who}: {what(e)}" for e in recent]
    if timeline.problems:
        lines.append(f"unreadable: {timeline.problems[0].message} (opsbot check lists them all)")
    text = "\n".join(lines)
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>", extra={"incident": record.id})


def write_postmortem(ctx: Context) -> Outcome:
    record = target(ctx)
    path, text = postmortem.draft(ctx, record)
    if ctx.state.text(path) is not None and not ctx.args.get("replace"):
        raise Refused(
            f"{path} exists already",
            hint=f"edit it in the repo, or !incident postmortem {record.id} --replace to "
            "write a new draft (the old one stays in the history)",
        )
    line = event(ctx.now, ctx.sender, f"postmortem draft in {path}")
    outcome_change = change(ctx, record, record, "postmortem", line)
    files: Files = {**outcome_change.files, path: text}
    return Outcome(
        f"incident postmortem: {record.id}: draft written to {path}",
        change=replace(outcome_change, files=files),
        extra={"incident": record.id, "path": path},
    )


COMMANDS = (
    Command(
        name="incident list",
        usage="[<which>]",
        options=(Option("--sev", "sev", "SEV", "only incidents of this severity", severity),),
        summary="the open incidents (or all of them), the worst first",
        examples=("!incident list", "!incident list all --sev sev1"),
        handler=list_,
    ),
    Command(
        name="incident show",
        usage="[<incident>]",
        summary="one incident: severity, status, roles, times and its latest events",
        examples=("!incident show INC-1",),
        handler=show,
    ),
    Command(
        name="incident postmortem",
        usage="[<incident>]",
        options=(
            Option("--replace", "replace", "", "write a new draft over an existing postmortem.md"),
        ),
        summary="draft incidents/<id>/postmortem.md from the incident and the Git history",
        details="Summary, impact, severity history, timeline, who did what, the deploys and "
        "rollbacks around it, and open questions: a draft for people to finish.",
        examples=("!incident postmortem INC-1",),
        handler=write_postmortem,
        writes=True,
    ),
)
