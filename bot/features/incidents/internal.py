"""The typed requests about incidents that nobody types: the room a deliverer made for an
incident, what was said in that room, and an alert group from Alertmanager."""

from dataclasses import dataclass, replace
from typing import ClassVar

from bot.core.effects import Effect, Notify, Request
from bot.core.errors import NotFound, Refused
from bot.core.ids import ROOM_ID, USER_ID
from bot.engine.context import Context, Outcome
from bot.engine.requests import RequestKind
from bot.features.incidents.alert_rules import (
    Alert,
    AlertRule,
    alert_entry,
    alert_rules,
    alerts_noted,
    rule_for,
)
from bot.features.incidents.cause import deploy_in_force
from bot.features.incidents.common import LOUD, change, echo, room_for, unique
from bot.features.incidents.entries import TimelineEntry, event
from bot.features.incidents.incident_policy import INCIDENT_POLICY
from bot.features.incidents.records import ID, Incident, by_alert_group, load, next_id
from bot.features.incidents.timeline import read as read_timeline


@dataclass(frozen=True)
class IncidentRoomMade(Request):
    """The room made for an incident (the `then` of its `CreateRoom`, the room filled in)."""

    name: ClassVar[str] = "incident room"
    incident: str
    room: str = ""


@dataclass(frozen=True)
class IncidentTranscript(Request):
    """What was said in an incident's room since the last batch, in arrival order."""

    name: ClassVar[str] = "incident transcript"
    incident: str
    entries: tuple[TimelineEntry, ...]


@dataclass(frozen=True)
class AlertGroup(Request):
    """One Alertmanager request: an alert group and its alerts."""

    name: ClassVar[str] = "incident alert"
    group: str
    title: str
    alerts: tuple[Alert, ...]


def _internal_incident(incident: str, ctx: Context) -> Incident:
    if not isinstance(incident, str) or not ID.fullmatch(incident):
        raise Refused(f"not an incident id: {incident!r}")
    record = load(ctx.state, incident)
    if record is None:
        raise NotFound(f"no incident {incident}")
    return record


def room(ctx: Context, request: IncidentRoomMade) -> Outcome:
    """Records the room a deliverer made for an incident."""
    record = _internal_incident(request.incident, ctx)
    room_id = request.room
    if not isinstance(room_id, str) or not ROOM_ID.fullmatch(room_id):
        raise Refused(f"not a Matrix room id: {room_id!r}")
    if record.room == room_id:
        raise Refused(f"{record.id} already has room {room_id}", hint="nothing to do")
    was = f" (was {record.room})" if record.room else ""
    after = replace(record, room=room_id)
    line = event(ctx.now, ctx.sender, f"incident room {room_id}{was}")
    return Outcome(
        f"incident room: {record.id} {room_id}",
        change=change(ctx, record, after, f"room {room_id}", line),
        extra={"incident": record.id},
    )


def transcript(ctx: Context, request: IncidentTranscript) -> Outcome:
    """Appends what was said in the incident room to its timeline, in one commit (each entry
    made by `said` or `shared_file`); the speakers become participants."""
    record = _internal_incident(request.incident, ctx)
    entries = request.entries
    if not isinstance(entries, list | tuple) or not entries:
        raise Refused("no transcript entries")
    for item in entries:
        if not isinstance(item, TimelineEntry) or not item.is_transcript:
            raise Refused(f"not a transcript entry: {str(item)[:60]!r}")
        if not USER_ID.fullmatch(item.who):
            raise Refused(f"not a Matrix user id: {item.who[:60]!r}")
    speakers = [item.who for item in entries]
    after = replace(record, participants=unique(record.participants, speakers))
    count = f"{len(entries)} line{'s' if len(entries) != 1 else ''}"
    return Outcome(
        f"incident transcript: {record.id} {count}",
        change=change(ctx, record, after, f"transcript, {count}", *entries),
        extra={"incident": record.id},
    )


TITLE_MAX = 200


def alert(ctx: Context, request: AlertGroup) -> Outcome:
    """Opens an incident for an Alertmanager alert group, or adds its alerts to the incident
    open for that group (args: group, title, alerts: a list of `Alert`). Only the alerts that a
    rule of alerts/rules.toml matches count, and each firing of an alert is written once, however
    often Alertmanager sends it. An alert never acknowledges an incident nor resolves it: people
    do."""
    group, alerts = request.group, request.alerts
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
        return alert_opened(ctx, group, request.title, min(firing), matched)
    seen = alerts_noted(read_timeline(ctx.state, record.id).entries)
    new = list({a.key: a for a, _ in matched if a.key not in seen}.values())
    if not new:
        return Outcome(f"incident alert: {record.id} has these alerts already", extra=facts)
    lines = [alert_entry(ctx.now, ctx.sender, a) for a in new]
    count = f"{len(new)} alert{'s' if len(new) != 1 else ''}"
    return Outcome(
        f"incident alert: {record.id}: {count} noted in its timeline",
        change=change(ctx, record, record, f"alerts, {count}", *lines),
        effects=echo(ctx, record, "\n".join(f"{a.status}: {a.describe()}" for a in new)),
        extra={**facts, "noted": len(new)},
    )


def alert_opened(
    ctx: Context, group: str, title: str, sev: str, matched: list[tuple[Alert, AlertRule]]
) -> Outcome:
    incident = next_id(ctx.state)
    when = ctx.now.replace(microsecond=0)
    title = " ".join((title or matched[0][0].describe()).split())
    title = title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 3] + "..."
    record = Incident(
        id=incident,
        title=title,
        severity=sev,
        status="investigating",
        reporter=ctx.sender,
        opened_at=when,
        declared_in=ctx.invocation.room_id,
        alert_group=group,
        cause=_cause(ctx, matched, int(when.timestamp())),
    )
    alerts = list({a.key: a for a, _ in matched}.values())
    lines = [
        event(when, ctx.sender, f"opened {incident} ({sev}) from alerts: {title}", severity=sev),
        *(alert_entry(when, ctx.sender, a) for a in alerts),
    ]
    on_call = ctx.policy.section(INCIDENT_POLICY).notify_for(sev)
    effects: list[Effect] = []
    if on_call:  # a room nobody is invited to would be a room nobody can enter
        effects.append(
            room_for(
                incident,
                title,
                sev,
                "alerts",
                on_call,
                ctx.invocation.room_id,
                IncidentRoomMade(incident),
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


def _cause(ctx: Context, matched: list[tuple[Alert, AlertRule]], at: int) -> str | None:
    """The deploy in force for the app and environment the first firing alert's labels name,
    where its rule says which labels name them (`cause_labels`)."""
    for alert, rule in matched:
        if alert.status != "firing" or not rule.cause_labels:
            continue
        app, env = (alert.labels.get(label) for label in rule.cause_labels)
        if app and env:
            return deploy_in_force(ctx.index, env, app, at)
    return None


REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(IncidentRoomMade, room),  # type: ignore[arg-type]
    RequestKind(IncidentTranscript, transcript),  # type: ignore[arg-type]
    RequestKind(AlertGroup, alert),  # type: ignore[arg-type]
)
