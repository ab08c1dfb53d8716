"""Carrying out, on Matrix, what a command asked for after its commit: notices that mention
people, and new incident rooms.

Every send has a transaction id derived from the command's event and the effect's position, so
a replayed batch does not post twice.
"""

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from nio import AsyncClient, RoomCreateResponse

from bot.engine.dispatch import Engine
from bot.engine.effects import CreateIncidentRoom, Effect, Notify
from bot.engine.types import Invocation, text_html
from bot.features.incident import rooms_owed
from bot.logs import fact
from bot.transport.matrix.content import notice, txn_id

log = logging.getLogger("opsbot.matrix")

Send = Callable[[str, dict[str, Any], str], Awaitable[str | None]]

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


def pill(user_id: str) -> str:
    """A mention as clients render it: a link to the user."""
    return f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(user_id)}</a>'


def mention_content(text: str, mentions: tuple[str, ...]) -> dict[str, Any]:
    plain = f"{text}\n{' '.join(mentions)}" if mentions else text
    markup = text_html(text)
    if mentions:
        markup += "<br>" + " ".join(pill(m) for m in mentions)
    return notice(plain, markup, mentions=mentions)


class EffectRunner:
    def __init__(self, client: AsyncClient, engine: Engine, send: Send) -> None:
        self.client = client
        self.engine = engine
        self.send = send

    async def run(self, effects: tuple[Effect, ...], event_id: str, room_id: str) -> None:
        for number, effect in enumerate(effects):
            key = f"{event_id}#{number}"
            if isinstance(effect, Notify):
                await self._notify(effect, key)
            elif isinstance(effect, CreateIncidentRoom):
                await self._create_room(effect, key, room_id)

    async def recover(self) -> None:
        """Makes the rooms owed to open incidents: a stop between an `!incident open` commit
        and its room leaves one, and the replayed command is answered without its effects."""
        owed = await asyncio.to_thread(lambda: rooms_owed(self.engine.view()))
        for effect in owed:
            fact(log, "making the room an incident is owed", incident=effect.incident)
            await self._create_room(effect, f"recover:{effect.incident}", effect.declared_in or "")

    async def _notify(self, effect: Notify, key: str) -> None:
        rooms = list(effect.rooms)
        if effect.to_incident:
            room = await self._incident_room(effect.to_incident)
            if room:
                rooms.append(room)
        if effect.announce:
            rooms += await self._announce_rooms()
        content = mention_content(effect.text, effect.mentions)
        for room in dict.fromkeys(rooms):  # each room once, in order
            if room in self.client.rooms:
                await self.send(room, content, txn_id("notify", f"{key}:{room}"))

    async def _create_room(self, effect: CreateIncidentRoom, key: str, declared_in: str) -> None:
        me = self.client.user_id
        response = await self.client.room_create(
            name=effect.name,
            topic=effect.topic,
            invite=[u for u in effect.invite if u != me],
            initial_state=[ENCRYPTION],
        )
        if not isinstance(response, RoomCreateResponse):
            fact(log, "could not create the incident room", logging.WARNING,
                 incident=effect.incident, error=str(response))  # fmt: skip
            return
        room_id = str(response.room_id)
        invocation = Invocation(
            sender=str(me), sender_name="opsbot", text=f"(incident room for {effect.incident})",
            event_id=f"{key}:room", received_at=datetime.now(UTC), room_id=declared_in,
            transport="matrix",
        )  # fmt: skip
        await asyncio.to_thread(
            self.engine.run_internal,
            "incident room",
            {"incident": effect.incident, "room": room_id},
            invocation,
        )
        link = f"https://matrix.to/#/{room_id}"
        text = f"{effect.incident} has its own encrypted room: {effect.name}"
        content = notice(
            f"{text}: {link}", f'{text_html(text)}: <a href="{link}">{html.escape(room_id)}</a>'
        )
        target = effect.declared_in or declared_in
        if target in self.client.rooms:
            await self.send(target, content, txn_id("incident-room", key))
        fact(log, "incident room created", incident=effect.incident, room=room_id)

    async def _incident_room(self, incident: str) -> str | None:
        return await asyncio.to_thread(self.engine.incident_room, incident)

    async def _announce_rooms(self) -> list[str]:
        return await asyncio.to_thread(self.engine.announce_rooms)
