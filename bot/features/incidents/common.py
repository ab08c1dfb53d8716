"""What the !incident commands share: finding the incident a command is about, and writing what
was done to it as one commit, told to its room.

The commands themselves are in incident.py (declaring it), incident_progress.py (working it to
resolved), incident_reports.py (reading it) and incident_internal.py (typed requests).
"""

from dataclasses import replace
from typing import Any

from bot.core.effects import CreateRoom, Effect, Notify, Request, dump_request
from bot.core.errors import NotFound, Refused
from bot.engine.context import Change, Context
from bot.features.incidents.entries import TimelineEntry
from bot.features.incidents.records import (
    Incident,
    by_room,
    encode_incident,
    load,
    load_all,
    record_path,
)
from bot.features.incidents.timeline import appended

Files = dict[str, str | bytes | None]
LOUD = ("sev1", "sev2")
"""Severities that are announced in the announcement rooms of policy.toml."""


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
    ctx: Context, before: Incident | None, after: Incident, what: str, *entries: TimelineEntry
) -> Change:
    """One commit: the record rewritten (comments kept), the timeline appended to."""
    record = record_path(after.id)
    files: Files = {}
    previous = ctx.state.text(record)
    if before is None or before != after or previous is None:
        files[record] = encode_incident(after, previous)
    files.update(appended(ctx.state, after.id, entries))
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
    return (Notify(text, rooms=(record.room,)),)


def room_key(incident: str) -> str:
    """The key of the `CreateRoom` that makes an incident's room: one per incident."""
    return f"incident:{incident}"


def in_room(record: Incident) -> dict[str, Any]:
    """Where a notice to the incident's room goes: its room, or the room being made for it."""
    if record.room is not None:
        return {"rooms": (record.room,)}
    return {"room_key": room_key(record.id)}


def room_for(
    incident: str,
    title: str,
    sev: str,
    by: str,
    invite: tuple[str, ...] | list[str],
    declared_in: str | None,
    then: Request,
) -> CreateRoom:
    """The incident's own room, linked from where it was declared; `then` records it."""
    name = f"{incident}: {title}"
    return CreateRoom(
        key=room_key(incident),
        name=name,
        topic=f"{incident} ({sev}), declared by {by}: {title}. !incident show for where it stands.",
        invite=unique(tuple(invite)),
        link_in=declared_in,
        link_text=f"{incident} has its own encrypted room: {name}",
        then=dump_request(then),
    )


def unique(*groups: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(user for group in groups for user in group))
