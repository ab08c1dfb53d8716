"""The transcript of an incident room: every message and file, appended to its timeline.

An observer of room messages: the transport journals each message the moment it is handled
(before its sync position moves past it, so a crash loses none) and later asks for the request
that commits a batch, at most one commit per incident every few seconds, before any command in
that room (so that a resolve lands after what was said before it), and on a clean stop.
"""

from bot.engine.requests import Observer, RoomMessage
from bot.features.incidents.entries import said, shared_file
from bot.features.incidents.internal import IncidentTranscript
from bot.features.incidents.records import by_room
from bot.features.incidents.timeline import from_journal, to_journal
from bot.state.view import StateView


class Rooms:
    """Which open incident a room belongs to. Asked for every message, so the answer is kept
    until `incidents/` itself changes (a deploy moves HEAD but not that folder)."""

    def __init__(self) -> None:
        self._folder: str | None = None
        self._rooms: dict[str, str | None] = {}

    def incident_of(self, view: StateView, room: str) -> str | None:
        folder = view.snapshot.object_id("incidents")
        if folder != self._folder:
            self._folder, self._rooms = folder, {}
        if room not in self._rooms:
            incident = by_room(view, room)
            self._rooms[room] = incident.id if incident is not None and incident.is_open else None
        return self._rooms[room]


_rooms = Rooms()


def watch(view: StateView, message: RoomMessage) -> tuple[str, str] | None:
    incident = _rooms.incident_of(view, message.room)
    if incident is None:
        return None
    if message.kind == "file":
        entry = shared_file(message.at, message.sender, message.body or "(no name)")
    else:
        entry = said(message.at, message.sender, message.body)
    return incident, to_journal(entry)


def batch(incident: str, payloads: list[str]) -> IncidentTranscript:
    # A row no release can read (never written so) is dropped with the batch.
    entries = tuple(e for line in payloads if (e := from_journal(line)) is not None)
    return IncidentTranscript(incident, entries)


OBSERVER = Observer("incident transcript", watch, batch)
