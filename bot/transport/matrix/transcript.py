"""The transcript of an incident room: every message and file, appended to its timeline.

A line is written to the journal (SQLite, synchronous) as its event is handled, before the sync
position moves past it, so a crash loses no line. Lines are committed to Git in batches, at most
one commit per incident every `FLUSH_SECONDS`, before any command in that room (so that a
resolve lands after what was said before it), and on a clean stop. The Git side of the record
therefore lags by at most `FLUSH_SECONDS`; nothing is lost on a crash, even a SIGKILL.
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from nio import RoomMessageFile, RoomMessageImage, RoomMessageText

from bot.engine.dispatch import Engine
from bot.engine.types import Invocation
from bot.logs import fact
from bot.state.incidents import by_room
from bot.state.timeline import from_journal, said, shared_file, to_journal
from bot.transport.matrix.journal import Journal

log = logging.getLogger("opsbot.matrix")

FLUSH_SECONDS = 3.0


class Transcript:
    def __init__(self, engine: Engine, journal: Journal, bot_id: str) -> None:
        self.engine = engine
        self.journal = journal
        self.bot_id = bot_id
        self._rooms: tuple[str | None, dict[str, str | None]] = (None, {})

    def incident_of(self, room_id: str) -> str | None:
        """The open incident whose room this is. Asked for every message, so the answer is kept
        until `incidents/` itself changes (a deploy moves HEAD but not that folder)."""
        view = self.engine.view()
        folder = view.snapshot.object_id("incidents")
        cached, rooms = self._rooms
        if cached != folder:
            rooms = {}
            self._rooms = (folder, rooms)
        if room_id not in rooms:
            incident = by_room(view, room_id)
            rooms[room_id] = incident.id if incident is not None and incident.is_open else None
        return rooms[room_id]

    def keep(self, room_id: str, event: Any) -> bool:
        """Records `event` if it belongs in an incident's transcript; True if it did."""
        incident = self.incident_of(room_id)
        if incident is None:
            return False
        at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
        if isinstance(event, RoomMessageText):
            entry = said(at, event.sender, event.body)
        elif isinstance(event, RoomMessageFile | RoomMessageImage) or event.source.get(
            "content", {}
        ).get("msgtype") in ("m.file", "m.image", "m.video", "m.audio"):
            entry = shared_file(at, event.sender, getattr(event, "body", "") or "(no name)")
        else:
            return False
        self.journal.keep_line(incident, event.event_id, to_journal(entry))
        return True

    async def flush(self, only: str | None = None) -> None:
        """Commits the pending lines, one commit per incident."""
        for incident, rows in self.journal.pending_lines().items():
            if only is not None and incident != only:
                continue
            invocation = Invocation(
                sender=self.bot_id, sender_name="opsbot", text=f"(transcript of {incident})",
                # The last event's id: a batch replayed after a crash is recognised, not doubled.
                event_id=f"transcript:{rows[-1][1]}", received_at=datetime.now(UTC),
                transport="matrix",
            )  # fmt: skip
            # A row no release can read (never written so) is dropped with the batch.
            entries = [e for _, _, line in rows if (e := from_journal(line)) is not None]
            reply = await asyncio.to_thread(
                self.engine.run_internal,
                "incident transcript",
                {"incident": incident, "entries": entries},
                invocation,
            )
            ids = [row_id for row_id, _, _ in rows]
            if reply.ok:
                self.journal.drop_lines(ids)
                fact(log, "transcript committed", incident=incident, lines=len(rows),
                     commit=reply.commit)  # fmt: skip
            elif reply.error not in ("internal", "outside_commits"):
                # Refused for good (the incident is gone from the repo): retrying cannot help.
                # Unsigned commits on main only delay it: kept until an admin decides on them.
                self.journal.drop_lines(ids)
                fact(
                    log, "transcript refused", logging.WARNING, incident=incident, error=reply.text
                )
            else:
                fact(log, "transcript not committed yet", logging.WARNING, incident=incident)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.exception("transcript flush failed; the lines stay in the journal")
