"""The !incident commands a transport runs (internal=True), nobody types: the room it created
for an incident, what was said in that room, and the alerts Alertmanager sent."""

from dataclasses import replace

from bot.engine.context import Context, Outcome
from bot.engine.effects import CreateIncidentRoom, Effect, Notify
from bot.engine.registry import Command
from bot.errors import NotFound, Refused
from bot.features.incident_common import LOUD, change, echo, unique
from bot.state.incidents import (
    ID,
    Alert,
    AlertRule,
    Incident,
    alert_event,
    alert_rules,
    alerts_noted,
    by_alert_group,
    event_line,
    is_transcript_line,
    load,
    next_id,
    rule_for,
    speaker_of,
    timeline_path,
)
from bot.state.policy import ROOM_ID


def _internal_incident(ctx: Context) -> Incident:
    incident = ctx.args.get("incident")
    if not isinstance(incident, str) or not ID.fullmatch(incident):
        raise Refused(f"not an incident id: {incident!r}")
    record = load(ctx.state, incident)
    if record is None:
        raise NotFound(f"no incident {incident}")
    return record


def room(ctx: Context) -> Outcome:
    """Records the room a transport created for an incident (args: incident, room)."""
    record = _internal_incident(ctx)
    room_id = ctx.args.get("room")
    if not isinstance(room_id, str) or not ROOM_ID.fullmatch(room_id):
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


COMMANDS = (
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
