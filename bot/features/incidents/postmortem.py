"""The postmortem draft of an incident (`!incident postmortem`), written from its record, its
timeline and the Git history: nothing in it is made up, and what only people know is left as
questions for them.

Every text that came from a person (titles, notes, reasons, summaries) is written on one line
with Markdown escaped (timeline.markdown): no text can start a heading or an entry.

The deploys and rollbacks listed are those committed from `LOOKBACK` before the incident was
opened (a change shortly before is the usual suspect) until it was resolved.
"""

import re
from datetime import UTC, datetime, timedelta

from bot.engine.context import Context
from bot.features.incidents.entries import TimelineEntry
from bot.features.incidents.records import Incident, postmortem_path
from bot.features.incidents.timeline import markdown, markdown_lines, timeline_dir
from bot.features.incidents.timeline import read as read_timeline
from bot.features.timefmt import span
from bot.state.index import Entry

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
            changed.update(d.sha for d in ctx.index.deploy_events(env, app) if d.sha in times)
    return [e for e in reversed(entries) if e.sha in changed]


def severity_history(happened: list[TimelineEntry]) -> list[str]:
    """Each severity the incident had, from the facts its timeline entries keep (never from a
    commit message, which a text typed by someone could have shaped)."""
    lines: list[str] = []
    current: str | None = None
    for item in happened:
        severity = item.facts.get("severity")
        if severity is None or severity == current:
            continue
        change = f"declared {severity}" if current is None else f"{current} -> {severity}"
        reason = item.facts.get("reason")
        why = f" ({reason})" if reason else ""
        lines.append(f"- {stamp(item.at)} · {markdown(item.who)} · {markdown(change + why)}")
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
        held = f" ({markdown(', '.join(roles[person]))})" if person in roles else ""
        lines.append(f"- {markdown(person)}{held}: {what or 'took part in its room'}")
    for person, held_roles in roles.items():
        if person not in done and person not in record.participants:
            lines.append(f"- {markdown(person)} ({markdown(', '.join(held_roles))})")
    return lines


def draft(ctx: Context, record: Incident) -> tuple[str, str]:
    """(path, text) of the postmortem draft."""
    entries = ctx.index.history(limit=_EVERYTHING)
    commits = incident_commits(entries, record.id)
    end = record.resolved_at or ctx.now
    window = (record.opened_at - LOOKBACK, end)
    deploys = deploys_between(ctx, entries, int(window[0].timestamp()), int(window[1].timestamp()))
    timeline = read_timeline(ctx.state, record.id)
    happened = timeline.events()
    said = len(timeline.entries) - len(happened)
    history = severity_history(happened)
    seen = [e.facts["severity"] for e in happened if "severity" in e.facts]
    worst = min([record.severity, *seen])
    title = markdown(record.title)

    out = [f"# Postmortem: {record.id}: {title}", ""]
    out += [
        f"A draft written by opsbot on {stamp(ctx.now)} from incidents/{record.id}/ and the Git "
        "history. Finish it by hand: the sections in italics are for people to write.",
        "",
        "## Summary",
        "",
        markdown(record.summary) if record.summary else "_What happened, in a few sentences._",
        "",
        f"- Severity: {record.severity}"
        + (f" (at worst {worst})" if worst != record.severity else ""),
        f"- Status: {record.status}",
        f"- Declared by {markdown(record.reporter)} on {stamp(record.opened_at)}"
        + (f" in {markdown(record.declared_in)}" if record.declared_in else ""),
        "- Roles: "
        + ", ".join(f"{markdown(role)} {markdown(user)}" for role, user in record.roles.items()),
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
        f"The events of {timeline_dir(record.id)}/"
        + (
            f"; the {said} messages and files of the incident's room are there too."
            if said
            else "."
        )
        + (
            f" ({len(timeline.problems)} unreadable entries left out.)" if timeline.problems else ""
        ),
        "",
    ]
    out += markdown_lines(happened)
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
            f"- {stamp(entry.at)} · {markdown(entry.author_id)} · {markdown(entry.summary)} "
            f"(commit {entry.sha[:7]}){before}"
        )
    if not deploys:
        out.append("- none")
    questions = [e.text for e in happened if e.kind == "note" and e.text.rstrip().endswith("?")]
    out += ["", "## Open questions", ""]
    out += ["- " + markdown(q) for q in questions]
    out += [
        "- What caused it?",
        "- How was it noticed, and could it have been noticed sooner?",
        "- What will stop it from happening again, and who does it by when?",
        "",
    ]
    return postmortem_path(record.id), "\n".join(out)
