"""!incident ...: declare, run and close incidents, each change one commit.

An incident lives in `incidents/INC-<n>/` (see bot/state/incidents.py). Every commit about it
carries the trailers `Incident: INC-<n>` and `Severity: sevN`, so `git log --grep '^Incident:
INC-7$'` is its whole history. The times to acknowledge, mitigate and resolve are derived by the
bot from what people do, never typed:

- acknowledged: the first time anyone acts on it after opening it (assign, status, note, sev,
  resolve);
- mitigated: the first time its status becomes monitoring or resolved;
- resolved: when it is resolved (cleared again by a reopen).

Where the id is left out, the incident is the one whose room the command is typed in.
"""

import html
from dataclasses import replace

from bot.engine.context import Change, Context, Outcome
from bot.engine.effects import CreateIncidentRoom, Effect, Notify
from bot.engine.grammar import REASON, Option
from bot.engine.kinds import severity
from bot.engine.registry import Command
from bot.errors import NotFound, Refused, UsageError
from bot.features import postmortem
from bot.features.timefmt import at, span
from bot.state.incidents import (
    BUILTIN_ROLES,
    ID,
    Alert,
    AlertRule,
    Incident,
    alert_event,
    alert_rules,
    alerts_noted,
    appended,
    by_alert_group,
    by_room,
    encode_incident,
    event_line,
    events,
    is_transcript_line,
    load,
    load_all,
    next_id,
    record_path,
    rule_for,
    speaker_of,
    timeline_path,
)
from bot.state.policy import ROOM_ID

Files = dict[str, str | bytes | None]
LOUD = ("sev1", "sev2")
"""Severities that are announced in the announcement rooms of policy.toml."""
DEFAULT_SEVERITY = "sev3"


# Finding the incident


def open_ones(ctx: Context) -> str:
    """The open incidents ("open: INC-3, INC-5"), for refusals that ask which one."""
    ids = [i.id for i in load_all(ctx.state) if i.is_open]
    return f"open: {', '.join(ids)}" if ids else "none is open"


def target(ctx: Context) -> Incident:
    """The incident named by the arguments, or else the one whose room this is."""
    wanted = ctx.args.get("incident")
    if wanted is not None:
        record = load(ctx.state, wanted)
        if record is None:
            raise NotFound(f"no incident {wanted}", hint=open_ones(ctx))
        return record
    room = ctx.invocation.room_id
    found = by_room(ctx.state, room) if room is not None else None
    if found is None:
        raise Refused(
            f"which incident? {open_ones(ctx)}",
            hint="name it after the command, like INC-3, or type the command in its room",
        )
    return found


# Writing


def change(
    ctx: Context, before: Incident | None, after: Incident, what: str, *lines: str
) -> Change:
    """One commit: the record rewritten (comments kept), the timeline appended to."""
    record = record_path(after.id)
    timeline = timeline_path(after.id)
    files: Files = {}
    previous = ctx.state.text(record)
    if before is None or before != after or previous is None:
        files[record] = encode_incident(after, previous)
    if lines:
        files[timeline] = appended(ctx.state.text(timeline), after, *lines)
    return Change(f"{after.id} {what}", files, trailers(after))


def trailers(record: Incident) -> tuple[tuple[str, str], ...]:
    return (("Incident", record.id), ("Severity", record.severity))


def acted(ctx: Context, record: Incident) -> Incident:
    """The record after someone acted on it: they took part, and it is acknowledged."""
    people = record.participants
    if ctx.sender not in people:
        people = (*people, ctx.sender)
    acknowledged = record.acknowledged_at or ctx.now.replace(microsecond=0)
    return replace(record, participants=people, acknowledged_at=acknowledged)


def echo(ctx: Context, record: Incident, text: str) -> tuple[Effect, ...]:
    """Tells the incident's room what was done from another room."""
    if record.room is None or record.room == ctx.invocation.room_id:
        return ()
    return (Notify(text, to_incident=record.id),)


def unique(*groups: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(user for group in groups for user in group))


# Commands


def open_(ctx: Context) -> Outcome:
    sev = ctx.args.get("sev", DEFAULT_SEVERITY)
    title = ctx.args["title"]
    incident = next_id(ctx.state)
    when = ctx.now.replace(microsecond=0)
    record = Incident(
        id=incident, title=title, severity=sev, status="investigating", reporter=ctx.sender,
        opened_at=when, roles={"commander": ctx.sender}, participants=(ctx.sender,),
        declared_in=ctx.invocation.room_id,
    )  # fmt: skip
    line = event_line(when, ctx.sender, f"opened {incident} ({sev}): {title}")
    on_call = ctx.policy.notify_for(sev)
    effects: list[Effect] = []
    if ctx.invocation.transport == "matrix":
        effects.append(
            CreateIncidentRoom(
                incident=incident,
                name=f"{incident}: {title}",
                topic=f"{incident} ({sev}), declared by {ctx.sender}: {title}. "
                f"!incident show for where it stands.",
                invite=unique((ctx.sender,), on_call),
                declared_in=ctx.invocation.room_id,
            )
        )
    if sev in LOUD:
        effects.append(
            Notify(
                f"{incident} ({sev}) declared by {ctx.sender}: {title}",
                announce=True,
                mentions=on_call,
            )
        )
    text = f"incident open: {incident} ({sev}): {title}; commander {ctx.sender}"
    return Outcome(
        text,
        change=change(ctx, None, record, f"({sev}): {title}", line),
        effects=tuple(effects),
        extra={"incident": incident},
    )


def sev(ctx: Context) -> Outcome:
    record = target(ctx)
    old, new = record.severity, ctx.args["sev"]
    if new == old:
        raise Refused(
            f"{record.id} is already {old}", hint="name another severity, sev1 (worst) to sev5"
        )
    after = replace(acted(ctx, record), severity=new)
    why = f" ({ctx.reason})" if ctx.reason else ""
    raised = new < old  # sev1 is the worst
    line = event_line(ctx.now, ctx.sender, f"severity {old} -> {new}{why}")
    mentions = tuple(
        u
        for u in unique(tuple(after.roles.values()), after.participants, ctx.policy.notify_for(new))
        if u != ctx.sender
    )
    verb = "raised" if raised else "lowered"
    text = f"incident sev: {record.id} {verb} from {old} to {new}: {record.title}"
    if mentions:
        text += f"; notifying {', '.join(mentions)}"
    effects: list[Effect] = [
        Notify(
            f"{record.id} is now {new} (was {old}), by {ctx.sender}{why}: {record.title}",
            to_incident=record.id,
            mentions=mentions,
        )
    ]
    if raised and new in LOUD and record.is_open:
        effects.append(
            Notify(
                f"{record.id} raised to {new} by {ctx.sender}{why}: {record.title}",
                announce=True,
                mentions=ctx.policy.notify_for(new),
            )
        )
    return Outcome(
        text,
        change=change(ctx, record, after, f"{old} -> {new}", line),
        effects=tuple(effects),
        extra={"incident": record.id, "mentions": list(mentions)},
    )


def assign(ctx: Context) -> Outcome:
    record = target(ctx)
    role = str(ctx.args["role"]).lower()
    known = unique(BUILTIN_ROLES, ctx.policy.incident_roles)
    if role not in known:
        raise Refused(
            f"no incident role {role!r}",
            hint=f"roles: {', '.join(known)} (policy.toml [incidents] roles adds more)",
        )
    user = ctx.args["user_or_me"]
    if user.lower() == "me":
        user = ctx.sender
    members = ctx.invocation.room_members
    if members is not None and user not in members:
        raise Refused(f"{user} is not in this room", hint="invite them first, then assign them")
    previous = record.roles.get(role)
    if previous == user:
        raise Refused(f"{user} is already the {role} of {record.id}", hint="nothing to do")
    after = replace(acted(ctx, record), roles={**record.roles, role: user})
    was = f" (was {previous})" if previous else ""
    line = event_line(ctx.now, ctx.sender, f"{role}: {user}{was}")
    text = f"incident assign: {record.id} {role} {user}{was}"
    effects: tuple[Effect, ...] = (
        Notify(
            f"{user} is now the {role} of {record.id}: {record.title}",
            to_incident=record.id,
            mentions=(user,),
        ),
    )
    return Outcome(
        text,
        change=change(ctx, record, after, f"{role} {user}", line),
        effects=effects,
        extra={"incident": record.id},
    )


def status(ctx: Context) -> Outcome:
    record = target(ctx)
    new = ctx.args["state"]
    if new == "resolved":
        return resolved(ctx, record, summary=None)
    if not record.is_open:
        raise Refused(f"{record.id} is resolved", hint=f"!incident reopen {record.id} first")
    if new == record.status:
        raise Refused(f"{record.id} is already {new}", hint="nothing to do")
    after = acted(ctx, record)
    mitigated = record.mitigated_at
    if mitigated is None and new == "monitoring":
        mitigated = ctx.now.replace(microsecond=0)
    after = replace(after, status=new, mitigated_at=mitigated)
    line = event_line(ctx.now, ctx.sender, f"status {record.status} -> {new}")
    text = f"incident status: {record.id} {new} (was {record.status}): {record.title}"
    return Outcome(
        text,
        change=change(ctx, record, after, new, line),
        effects=echo(ctx, record, f"{record.id} is now {new}, by {ctx.sender}"),
        extra={"incident": record.id},
    )


def resolve(ctx: Context) -> Outcome:
    return resolved(ctx, target(ctx), ctx.args.get("summary"))


def resolved(ctx: Context, record: Incident, summary: str | None) -> Outcome:
    if not record.is_open:
        since = f" at {at(record.resolved_at, ctx.now)}" if record.resolved_at else ""
        raise Refused(
            f"{record.id} is already resolved{since}",
            hint=f"!incident reopen {record.id} if it is back",
        )
    when = ctx.now.replace(microsecond=0)
    after = replace(
        acted(ctx, record),
        status="resolved",
        resolved_at=when,
        mitigated_at=record.mitigated_at or when,
        summary=summary or record.summary,
    )
    took = span(when - record.opened_at)
    line = event_line(when, ctx.sender, f"resolved {record.id} after {took}")
    lines = [line]
    if summary:
        lines.append(event_line(when, ctx.sender, f"summary: {summary}"))
    text = (
        f"incident resolve: {record.id} resolved after {took}: {record.title}; "
        f"!incident postmortem {record.id} drafts the postmortem"
    )
    effects = list(echo(ctx, record, f"{record.id} resolved by {ctx.sender} after {took}"))
    if record.severity in LOUD:
        effects.append(
            Notify(
                f"{record.id} ({record.severity}) resolved after {took}: {record.title}",
                announce=True,
            )
        )
    return Outcome(
        text,
        change=change(ctx, record, after, "resolved", *lines),
        effects=tuple(effects),
        extra={"incident": record.id},
    )


def reopen(ctx: Context) -> Outcome:
    record = target(ctx)
    if record.is_open:
        raise Refused(
            f"{record.id} is not resolved (it is {record.status})", hint="nothing to reopen"
        )
    after = replace(acted(ctx, record), status="investigating", resolved_at=None)
    why = f" ({ctx.reason})" if ctx.reason else ""
    line = event_line(ctx.now, ctx.sender, f"reopened {record.id}{why}")
    effects = list(echo(ctx, record, f"{record.id} reopened by {ctx.sender}{why}"))
    if record.severity in LOUD:
        effects.append(
            Notify(
                f"{record.id} ({record.severity}) reopened by {ctx.sender}{why}: {record.title}",
                announce=True,
                mentions=ctx.policy.notify_for(record.severity),
            )
        )
    return Outcome(
        f"incident reopen: {record.id} investigating again: {record.title}",
        change=change(ctx, record, after, "reopened", line),
        effects=tuple(effects),
        extra={"incident": record.id},
    )


def note(ctx: Context) -> Outcome:
    record = target(ctx)
    body = str(ctx.args["text"])
    if any(ord(c) < 32 and c not in "\n\r\t" for c in body) or "\x7f" in body:
        raise UsageError("a note must not contain control characters")
    after = acted(ctx, record)
    line = event_line(ctx.now, ctx.sender, f"note: {body}")
    return Outcome(
        f"incident note: {record.id}: noted in its timeline",
        change=change(ctx, record, after, "note", line),
        effects=echo(ctx, record, f"{ctx.sender} noted on {record.id}: {body}"),
        extra={"incident": record.id},
    )


def list_(ctx: Context) -> Outcome:
    which = ctx.args.get("which", "open")
    wanted = ctx.args.get("sev")
    found = [
        i
        for i in load_all(ctx.state)
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
    timeline = ctx.state.text(timeline_path(record.id)) or ""
    recent = list(events(timeline))[-5:]
    if recent:
        lines.append("latest:")
        lines += [f"  {e.at} UTC {e.who}: {e.what}".replace("\n", "\n    ") for e in recent]
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
    line = event_line(ctx.now, ctx.sender, f"postmortem draft in {path}")
    outcome_change = change(ctx, record, record, "postmortem", line)
    files: Files = {**outcome_change.files, path: text}
    return Outcome(
        f"incident postmortem: {record.id}: draft written to {path}",
        change=replace(outcome_change, files=files),
        extra={"incident": record.id, "path": path},
    )


# Run by a transport (internal=True)


def _internal_incident(ctx: Context) -> Incident:
    incident = ctx.args.get("incident")
    if not isinstance(incident, str) or not ID.match(incident):
        raise Refused(f"not an incident id: {incident!r}")
    record = load(ctx.state, incident)
    if record is None:
        raise NotFound(f"no incident {incident}")
    return record


def room(ctx: Context) -> Outcome:
    """Records the room a transport created for an incident (args: incident, room)."""
    record = _internal_incident(ctx)
    room_id = ctx.args.get("room")
    if not isinstance(room_id, str) or not ROOM_ID.match(room_id):
        raise Refused(f"not a Matrix room id: {room_id!r}")
    if record.room == room_id:
        raise Refused(f"{record.id} already has room {room_id}", hint="nothing to do")
    was = f" (was {record.room})" if record.room else ""
    after = replace(record, room=room_id)
    line = event_line(ctx.now, ctx.sender, f"incident room {room_id}{was}")
    return Outcome(
        f"incident room: {record.id} {room_id}",
        change=change(ctx, record, after, f"room {room_id}", line),
        extra={"incident": record.id},
    )


def transcript(ctx: Context) -> Outcome:
    """Appends lines said in the incident room to its timeline, in one commit (args: incident,
    lines: each made by `transcript_line` or `file_line`); the speakers become participants."""
    record = _internal_incident(ctx)
    lines = ctx.args.get("lines")
    if not isinstance(lines, list | tuple) or not lines:
        raise Refused("no transcript lines")
    speakers = []
    for line in lines:
        if not isinstance(line, str) or not is_transcript_line(line):
            raise Refused(f"not a transcript line: {str(line)[:60]!r}")
        if any(not more.startswith("  ") for more in line.split("\n")[1:]):
            raise Refused(f"a transcript line goes on unindented: {line[:60]!r}")
        speaker = speaker_of(line)
        if speaker is not None:
            speakers.append(speaker)
    after = replace(record, participants=unique(record.participants, speakers))
    count = f"{len(lines)} line{'s' if len(lines) != 1 else ''}"
    return Outcome(
        f"incident transcript: {record.id} {count}",
        change=change(ctx, record, after, f"transcript, {count}", *lines),
        extra={"incident": record.id},
    )


TITLE_MAX = 200


def alert(ctx: Context) -> Outcome:
    """Opens an incident for an Alertmanager alert group, or adds its alerts to the incident
    open for that group (args: group, title, alerts: a list of `Alert`). Only the alerts that a
    rule of alerts/rules.toml matches count, and each firing of an alert is written once, however
    often Alertmanager sends it. An alert never acknowledges an incident nor resolves it: people
    do."""
    group = ctx.args.get("group")
    alerts = ctx.args.get("alerts")
    if not isinstance(group, str) or not group.strip():
        raise Refused("no alert group")
    if not isinstance(alerts, list | tuple) or not all(isinstance(a, Alert) for a in alerts):
        raise Refused("no alerts")
    rules = alert_rules(ctx.state)
    matched = [(a, rule) for a in alerts if (rule := rule_for(rules, a.labels)) is not None]
    record = by_alert_group(ctx.state, group)
    firing = [rule.severity for a, rule in matched if a.status == "firing"]
    facts = {
        "incident": record.id if record else None,
        "matched": len(matched),
        "all_resolved": bool(matched) and not firing,
    }
    if not matched:
        return Outcome("incident alert: no rule of alerts/rules.toml matches", extra=facts)
    if record is None:
        if not firing:
            return Outcome(
                "incident alert: resolved, and no incident is open for them", extra=facts
            )
        return alert_opened(ctx, group, min(firing), matched)
    seen = alerts_noted(ctx.state.text(timeline_path(record.id)) or "")
    new = list({a.key: a for a, _ in matched if a.key not in seen}.values())
    if not new:
        return Outcome(f"incident alert: {record.id} has these alerts already", extra=facts)
    lines = [event_line(ctx.now, ctx.sender, alert_event(a)) for a in new]
    count = f"{len(new)} alert{'s' if len(new) != 1 else ''}"
    return Outcome(
        f"incident alert: {record.id}: {count} noted in its timeline",
        change=change(ctx, record, record, f"alerts, {count}", *lines),
        effects=echo(ctx, record, "\n".join(f"{a.status}: {a.describe()}" for a in new)),
        extra={**facts, "noted": len(new)},
    )


def alert_opened(
    ctx: Context, group: str, sev: str, matched: list[tuple[Alert, AlertRule]]
) -> Outcome:
    incident = next_id(ctx.state)
    when = ctx.now.replace(microsecond=0)
    title = " ".join(str(ctx.args.get("title") or matched[0][0].describe()).split())
    title = title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 3] + "..."
    record = Incident(
        id=incident, title=title, severity=sev, status="investigating", reporter=ctx.sender,
        opened_at=when, declared_in=ctx.invocation.room_id, alert_group=group,
    )  # fmt: skip
    alerts = list({a.key: a for a, _ in matched}.values())
    lines = [
        event_line(when, ctx.sender, f"opened {incident} ({sev}) from alerts: {title}"),
        *(event_line(when, ctx.sender, alert_event(a)) for a in alerts),
    ]
    on_call = ctx.policy.notify_for(sev)
    effects: list[Effect] = []
    if on_call:  # a room nobody is invited to would be a room nobody can enter
        effects.append(
            CreateIncidentRoom(
                incident=incident,
                name=f"{incident}: {title}",
                topic=f"{incident} ({sev}), opened by alerts: {title}. "
                f"!incident show for where it stands.",
                invite=on_call,
                declared_in=ctx.invocation.room_id,
            )
        )
    if sev in LOUD:
        effects.append(
            Notify(f"{incident} ({sev}) opened by alerts: {title}", announce=True, mentions=on_call)
        )
    return Outcome(
        f"incident alert: {incident} ({sev}) opened: {title}",
        change=change(ctx, None, record, f"({sev}) from alerts: {title}", *lines),
        effects=tuple(effects),
        extra={
            "incident": incident,
            "opened": True,
            "severity": sev,
            "matched": len(matched),
            "all_resolved": False,
            "noted": len(alerts),
        },
    )


INCIDENT = "an incident id like INC-7; left out, the incident whose room this is"

COMMANDS = (
    Command(
        name="incident open",
        usage="[<sev>] <title...>",
        summary="declare an incident: INC-<n>, its own room, and who is in charge",
        details=f"Severity sev1 (worst) to sev5, {DEFAULT_SEVERITY} unless given. You are its "
        "commander until someone else is assigned. Over Matrix, opsbot creates an encrypted "
        "room for it and invites you and the people policy.toml names for that severity; "
        "sev1 and sev2 are announced in the announcement rooms.",
        examples=("!incident open sev2 Database is down", "!incident open Login page is slow"),
        handler=open_,
        writes=True,
    ),
    Command(
        name="incident sev",
        usage="[<incident>] <sev>",
        options=(REASON,),
        summary="change an incident's severity, notifying the people in it",
        details="Mentions its roles, everyone who took part and the people policy.toml names "
        "for the new severity; raising it to sev1 or sev2 is announced.",
        examples=('!incident sev INC-1 sev1 --reason "every region is affected"',),
        handler=sev,
        writes=True,
    ),
    Command(
        name="incident assign",
        usage="[<incident>] <role> <user_or_me>",
        summary="give someone an incident role: commander, communications, scribe, ...",
        details="More roles can be named in policy.toml ([incidents] roles). Over Matrix, the "
        "person must be in the room.",
        examples=("!incident assign INC-1 commander @bob:example.org",),
        handler=assign,
        writes=True,
    ),
    Command(
        name="incident status",
        usage="[<incident>] <state>",
        summary="investigating, identified, monitoring or resolved",
        details="monitoring marks it mitigated; resolved is the same as !incident resolve.",
        examples=("!incident status INC-1 identified",),
        handler=status,
        writes=True,
    ),
    Command(
        name="incident note",
        usage="[<incident>] <text...>",
        summary="add a note to an incident's timeline, kept exactly as typed",
        details="At most 4 KiB.",
        examples=("!incident note INC-1 failing over to the replica",),
        handler=note,
        writes=True,
    ),
    Command(
        name="incident resolve",
        usage="[<incident>]",
        options=(Option("--summary", "summary", "TEXT", "what happened, in a sentence"),),
        summary="close an incident; its times to acknowledge, mitigate and resolve are kept",
        examples=('!incident resolve INC-1 --summary "failed over to the replica"',),
        handler=resolve,
        writes=True,
    ),
    Command(
        name="incident reopen",
        usage="[<incident>]",
        options=(REASON,),
        summary="open a resolved incident again",
        examples=('!incident reopen INC-1 --reason "errors are back"',),
        handler=reopen,
        writes=True,
    ),
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
    Command(
        name="incident room",
        usage="",
        summary="record the room a transport created for an incident",
        handler=room,
        writes=True,
        internal=True,
    ),
    Command(
        name="incident alert",
        usage="",
        summary="open an incident for an Alertmanager alert group, or add its alerts to it",
        handler=alert,
        writes=True,
        internal=True,
    ),
    Command(
        name="incident transcript",
        usage="",
        summary="append what was said in an incident's room to its timeline",
        handler=transcript,
        writes=True,
        internal=True,
    ),
)
