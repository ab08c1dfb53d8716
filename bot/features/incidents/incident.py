"""!incident ...: declare, run and close incidents, each change one commit.

An incident lives in `incidents/INC-<n>/` (see records.py). Every commit about it
carries the trailers `Incident: INC-<n>` and `Severity: sevN`, so `git log --grep '^Incident:
INC-7$'` is its whole history. The times to acknowledge, mitigate and resolve are derived by the
bot from what people do, never typed:

- acknowledged: the first time anyone acts on it after opening it (assign, status, note, sev,
  resolve);
- mitigated: the first time its status becomes monitoring or resolved;
- resolved: when it is resolved (cleared again by a reopen).

Where the id is left out, the incident is the one whose room the command is typed in.

This module declares an incident and says what it is and who runs it (open, sev, assign);
incident_progress.py works it to resolved, incident_reports.py reads it, incident_internal.py
holds what transports run, and incident_common.py what they all share.
"""

from dataclasses import replace

from bot.core.effects import CreateRoom, Effect, Notify
from bot.core.errors import Refused
from bot.engine.context import Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.features.incidents.common import LOUD, acted, change, in_room, room_for, target, unique
from bot.features.incidents.entries import event
from bot.features.incidents.incident_policy import INCIDENT_POLICY
from bot.features.incidents.internal import IncidentRoomMade
from bot.features.incidents.records import BUILTIN_ROLES, Incident, load_all, next_id
from bot.state.view import StateView

DEFAULT_SEVERITY = "sev3"


def rooms_owed(view: StateView) -> list[CreateRoom]:
    """Open incidents declared in a room whose own room was never made (the bot stopped
    between the commit and the room): owed again at start. The outbox makes a room it already
    owes once, whoever asks."""
    policy = view.policy()
    return [
        room_for(
            i.id,
            i.title,
            i.severity,
            i.reporter,
            (i.reporter, *policy.section(INCIDENT_POLICY).notify_for(i.severity)),
            i.declared_in,
            IncidentRoomMade(i.id),
        )
        for i in load_all(view)
        if i.is_open and i.room is None and i.declared_in is not None
    ]


def open_(ctx: Context) -> Outcome:
    sev = ctx.args.get("sev", DEFAULT_SEVERITY)
    title = ctx.args["title"]
    incident = next_id(ctx.state)
    when = ctx.now.replace(microsecond=0)
    record = Incident(
        id=incident,
        title=title,
        severity=sev,
        status="investigating",
        reporter=ctx.sender,
        opened_at=when,
        roles={"commander": ctx.sender},
        participants=(ctx.sender,),
        declared_in=ctx.invocation.room_id,
    )
    line = event(when, ctx.sender, f"opened {incident} ({sev}): {title}", severity=sev)
    on_call = ctx.policy.section(INCIDENT_POLICY).notify_for(sev)
    effects: list[Effect] = []
    if ctx.invocation.room_id is not None:  # declared in a room: it gets a room of its own
        effects.append(
            room_for(
                incident,
                title,
                sev,
                ctx.sender,
                (ctx.sender, *on_call),
                ctx.invocation.room_id,
                IncidentRoomMade(incident),
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
    facts = {"severity": new, "was": old, **({"reason": ctx.reason} if ctx.reason else {})}
    line = event(ctx.now, ctx.sender, f"severity {old} -> {new}{why}", **facts)
    mentions = tuple(
        u
        for u in unique(
            tuple(after.roles.values()),
            after.participants,
            ctx.policy.section(INCIDENT_POLICY).notify_for(new),
        )
        if u != ctx.sender
    )
    verb = "raised" if raised else "lowered"
    text = f"incident sev: {record.id} {verb} from {old} to {new}: {record.title}"
    if mentions:
        text += f"; notifying {', '.join(mentions)}"
    effects: list[Effect] = [
        Notify(
            f"{record.id} is now {new} (was {old}), by {ctx.sender}{why}: {record.title}",
            mentions=mentions,
            **in_room(record),
        )
    ]
    if raised and new in LOUD and record.is_open:
        effects.append(
            Notify(
                f"{record.id} raised to {new} by {ctx.sender}{why}: {record.title}",
                announce=True,
                mentions=ctx.policy.section(INCIDENT_POLICY).notify_for(new),
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
    known = unique(BUILTIN_ROLES, ctx.policy.section(INCIDENT_POLICY).roles)
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
    line = event(ctx.now, ctx.sender, f"{role}: {user}{was}")
    text = f"incident assign: {record.id} {role} {user}{was}"
    effects: tuple[Effect, ...] = (
        Notify(
            f"{user} is now the {role} of {record.id}: {record.title}",
            mentions=(user,),
            **in_room(record),
        ),
    )
    return Outcome(
        text,
        change=change(ctx, record, after, f"{role} {user}", line),
        effects=effects,
        extra={"incident": record.id},
    )


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
)
