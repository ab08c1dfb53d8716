"""What a command asks to happen after its commit, besides the reply.

Handlers do no I/O, so a handler that wants people notified or a room created says so with
these values in `Outcome.effects`; the transport carries them out after the commit, in order.
A transport that cannot (the console) prints what it would have done.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Notify:
    """A notice to rooms, mentioning people (real Matrix mentions: `m.mentions` and pills)."""

    text: str
    rooms: tuple[str, ...] = ()  # room ids; empty with `to_incident` set means the incident's room
    mentions: tuple[str, ...] = ()
    announce: bool = False  # also to the announcement rooms of policy.toml ([rooms] announce)
    to_incident: str | None = None  # the incident whose room gets it


@dataclass(frozen=True)
class CreateIncidentRoom:
    """A new end-to-end-encrypted room for an incident, linked from where it was declared.
    The transport reports the new room back with the internal `incident room` command."""

    incident: str
    name: str
    topic: str
    invite: tuple[str, ...]
    declared_in: str | None


Effect = Notify | CreateIncidentRoom
