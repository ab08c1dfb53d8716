"""The postmortem draft of an incident (`!incident postmortem`), written from its record, its
timeline and the Git history: nothing in it is made up, and what only people know is left as
questions for them.

The deploys and rollbacks listed are those committed from `LOOKBACK` before the incident was
opened (a change shortly before is the usual suspect) until it was resolved.
"""

import re
from datetime import UTC, datetime, timedelta

from bot.engine.context import Context
from bot.features.timefmt import span
from bot.state.incidents import Incident, events, postmortem_path, timeline_path
from bot.state.index import Entry
from bot.state.message import read_trailers

LOOKBACK = timedelta(hours=2)
_EVERYTHING = 1_000_000
"""`Index.history` has no "no limit"; the incident's commits and the deploys in a window are read
from all of it until the index answers those two questions itself."""

ACTIONS = {
    "incident open": "declared it",
    "incident sev": "changed the severity",
    "incident assign": "assigned a role",
    "incident status": "set the status",
    "incident note": "added a note",
    "incident resolve": "resolved it",
    "incident reopen": "reopened it",
    "incident postmortem": "drafted the postmortem",
}


def stamp(moment: datetime | int) -> str:
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def incident_commits(entries: list[Entry], incident: str) -> list[Entry]:
    """The commits made by incident commands about `incident`, oldest first. (What `git log
    --grep '^Incident: INC-7$'` shows, found by the summary every incident command writes.)"""
    mine = re.compile(rf"^incident [a-z]+: {re.escape(incident)}(?![0-9])")
    return [e for e in reversed(entries) if mine.match(e.summary)]


def deploys_between(ctx: Context, entries: list[Entry], start: int, end: int) -> list[Entry]:
    """The commits that changed a desired version (deploy, rollback, promote, approve, a hand
    edit) with a commit time in [start, end], oldest first."""
    times = {e.sha: e for e in entries if start <= e.at <= end}
    changed: set[str] = set()
    for env in ctx.state.environments():
        for app in ctx.state.apps():
            changed.update(d.sha for d in ctx.history.deploy_events(env, app) if d.sha in times)
    return [e for e in reversed(entries) if e.sha in changed]


def severity_history(ctx: Context, commits: list[Entry]) -> list[str]:
    lines: list[str] = []
    current: str | None = None
    for entry in commits:
        message = ctx.log.commit(entry.sha).message
        severity = read_trailers(message.encode()).get("Severity")
        if severity is None or severity == current:
            continue
        reason = next(
            (
                line[len("Reason: ") :]
                for line in message.splitlines()
                if line.startswith("Reason: ")
            ),
            "",
        )
        change = f"declared {severity}" if current is None else f"{current} -> {severity}"
        why = f" ({reason})" if reason else ""
        lines.append(f"- {stamp(entry.at)} · {entry.author_id} · {change}{why}")
        current = severity
    return lines


def who_did_what(record: Incident, commits: list[Entry]) -> list[str]:
    done: dict[str, dict[str, int]] = {}
    for entry in commits:
        action = ACTIONS.get(entry.summary.split(":", 1)[0])
        if action is None:  # the transport's own commits: the room, the transcript
            continue
        mine = done.setdefault(entry.author_id, {})
        mine[action] = mine.get(action, 0) + 1
    roles: dict[str, list[str]] = {}
    for role, user in record.roles.items():
        roles.setdefault(user, []).append(role)
    lines = []
    for person in [*done, *(p for p in record.participants if p not in done)]:
        acts = done.get(person, {})
        what = ", ".join(f"{a} ({n} times)" if n > 1 else a for a, n in acts.items())
        held = f" ({', '.join(roles[person])})" if person in roles else ""
        lines.append(f"- {person}{held}: {what or 'took part in its room'}")
    for person, held_roles in roles.items():
        if person not in done and person not in record.participants:
            lines.append(f"- {person} ({', '.join(held_roles)})")
    return lines


def draft(ctx: Context, record: Incident) -> tuple[str, str]:
    """(path, text) of the postmortem draft."""
    entries = ctx.history.history(limit=_EVERYTHING)
    commits = incident_commits(entries, record.id)
    end = record.resolved_at or ctx.now
    window = (record.opened_at - LOOKBACK, end)
    deploys = deploys_between(ctx, entries, int(window[0].timestamp()), int(window[1].timestamp()))
    timeline = ctx.state.text(timeline_path(record.id)) or ""
    happened = list(events(timeline))
    history = severity_history(ctx, commits)
    worst = min([record.severity, *re.findall(r"sev[1-5]", " ".join(history))])

    out = [f"# Postmortem: {record.id}: {record.title}", ""]
    out += [
        f"A draft written by opsbot on {stamp(ctx.now)} from incidents/{record.id}/ and the Git "
        "history. Finish it by hand: the sections in italics are for people to write.",
        "",
        "## Summary",
        "",
        record.summary or "_What happened, in a few sentences._",
        "",
        f"- Severity: {record.severity}"
        + (f" (at worst {worst})" if worst != record.severity else ""),
        f"- Status: {record.status}",
        f"- Declared by {record.reporter} on {stamp(record.opened_at)}"
        + (f" in {record.declared_in}" if record.declared_in else ""),
        "- Roles: " + ", ".join(f"{role} {user}" for role, user in record.roles.items()),
    ]
    for label, moment in (
        ("acknowledge", record.acknowledged_at),
        ("mitigate", record.mitigated_at),
        ("resolve", record.resolved_at),
    ):
        took = span(moment - record.opened_at) if moment else "not yet"
        when = f" ({stamp(moment)})" if moment else ""
        out.append(f"- Time to {label}: {took}{when}")
    out += ["", "## Impact", "", "_Who and what was affected, how badly, and for how long._", ""]
    lasted = span(end - record.opened_at)
    out.append(
        f"- Open for {lasted}" + ("" if record.resolved_at else " so far (not resolved yet)")
    )
    if record.mitigated_at:
        out.append(f"- Mitigated after {span(record.mitigated_at - record.opened_at)}")
    out += ["", "## Severity history", "", *(history or [f"- {record.severity}"]), ""]
    out += [
        "## Timeline",
        "",
        f"The events of incidents/{record.id}/timeline.md; what was said in the incident's room "
        "is there too.",
        "",
    ]
    for event in happened:
        what = event.what.replace("\n", "\n  ")
        out.append(f"- {event.at} UTC · {event.who} · {what}")
    if not happened:
        out.append("- (no events)")
    out += ["", "## Who did what", "", *(who_did_what(record, commits) or ["- (nobody)"]), ""]
    out += [
        "## Deploys and rollbacks",
        "",
        f"Committed from {stamp(window[0])} ({span(LOOKBACK)} before it was declared) to "
        f"{stamp(window[1])}{'' if record.resolved_at else ' (now)'}:",
        "",
    ]
    opened = int(record.opened_at.timestamp())
    for entry in deploys:
        before = " (before it was declared)" if entry.at < opened else ""
        out.append(
            f"- {stamp(entry.at)} · {entry.author_id} · {entry.summary} "
            f"(commit {entry.sha[:7]}){before}"
        )
    if not deploys:
        out.append("- none")
    questions = [
        e.what.removeprefix("note: ")
        for e in happened
        if e.what.startswith("note: ") and e.what.rstrip().endswith("?")
    ]
    out += ["", "## Open questions", ""]
    out += ["- " + q.replace("\n", "\n  ") for q in questions]
    out += [
        "- What caused it?",
        "- How was it noticed, and could it have been noticed sooner?",
        "- What will stop it from happening again, and who does it by when?",
        "",
    ]
    return postmortem_path(record.id), "\n".join(out)
