"""Room messages that are not commands, kept for the features that observe them.

A message an observer keeps (a line of an incident's transcript) is written to the journal as
its event is handled, before the sync position moves past it, so a crash loses none. Batches
are recorded in Git by the observer's request, at most one commit per batch key every
`FLUSH_SECONDS`, before any command in a room they came from (so that a resolve lands after
what was said before it), and on a clean stop. The Git side lags by at most `FLUSH_SECONDS`;
nothing is lost on a crash, even a SIGKILL.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from nio import RoomMessageFile, RoomMessageImage, RoomMessageText

from bot.core.logs import fact
from bot.core.tasks import stopped_within
from bot.engine.dispatch import Engine
from bot.engine.requests import Observer, RoomMessage
from bot.engine.types import Invocation
from bot.transport.matrix.journal import MatrixJournal

log = logging.getLogger("opsbot.matrix")

FLUSH_SECONDS = 3.0
FILES = ("m.file", "m.image", "m.video", "m.audio")


def room_message(room_id: str, event: Any) -> RoomMessage | None:
    """The message as observers see it; None for events that are not messages."""
    at = datetime.fromtimestamp(event.server_timestamp / 1000, UTC)
    msgtype = event.source.get("content", {}).get("msgtype")
    if isinstance(event, RoomMessageFile | RoomMessageImage) or msgtype in FILES:
        body = getattr(event, "body", "") or ""
        return RoomMessage(room_id, event.event_id, event.sender, at, "file", body)
    if isinstance(event, RoomMessageText):
        return RoomMessage(room_id, event.event_id, event.sender, at, "text", event.body)
    return None


class Observations:
    def __init__(
        self,
        engine: Engine,
        journal: MatrixJournal,
        observers: Sequence[Observer],
        bot_id: str,
    ) -> None:
        self.engine = engine
        self.journal = journal
        self.observers = {observer.name: observer for observer in observers}
        self.bot_id = bot_id

    def keep(self, message: RoomMessage) -> bool:
        """Journals `message` for every observer that wants it; True if one did."""
        if not self.observers:
            return False
        view = self.engine.view()
        kept = False
        for observer in self.observers.values():
            found = observer.watch(view, message)
            if found is not None:
                key, payload = found
                self.journal.observe(observer.name, key, message.room, message.event_id, payload)
                kept = True
        return kept

    async def flush(self, room: str | None = None) -> None:
        """Records the pending batches (only those with messages from `room`, if given)."""
        for (name, key), rows in self.journal.observed(room).items():
            observer = self.observers.get(name)
            ids = [row_id for row_id, _, _ in rows]
            if observer is None:
                continue  # kept for a feature this build does not have: left for one that does
            invocation = Invocation(
                sender=self.bot_id,
                sender_name="opsbot",
                text=f"({observer.name} of {key})",
                # The last event's id: a batch replayed after a crash is recognised, not doubled.
                event_id=f"{observer.name}:{rows[-1][1]}",
                received_at=datetime.now(UTC),
                transport="matrix",
            )
            request = observer.batch(key, [payload for _, _, payload in rows])
            reply = await asyncio.to_thread(self.engine.request, request, invocation)
            if reply.ok:
                self.journal.drop_observed(ids)
                fact(
                    log,
                    "observations committed",
                    observer=name,
                    key=key,
                    lines=len(rows),
                    commit=reply.commit,
                )
            elif reply.error not in ("internal", "outside_commits"):
                # Refused for good (the incident is gone from the repo): retrying cannot help.
                # Unsigned commits on main only delay it: kept until an admin decides on them.
                self.journal.drop_observed(ids)
                fact(
                    log,
                    "observations refused",
                    logging.WARNING,
                    observer=name,
                    key=key,
                    error=reply.text,
                )
            else:
                fact(log, "observations not committed yet", logging.WARNING, key=key)

    async def run(self, stop: asyncio.Event) -> None:
        while not await stopped_within(stop, FLUSH_SECONDS):
            try:
                await self.flush()
            except Exception:
                log.exception("flushing observations failed; they stay in the journal")
