"""Rooms the bot makes (an incident's room): made once, encrypted, recorded by the feature that
asked for it, and linked from the room it was asked in.

A room the deliverer makes says which `CreateRoom` made it, in its own state: a crash between
the homeserver making the room and the outbox recording it is repaired by the next sync, which
finds the room by this (see `MatrixTransport`), instead of making a second one.
"""

import asyncio
import html
import logging
from datetime import UTC, datetime
from typing import Any

from nio import AsyncClient, RoomCreateResponse

from bot.core.effects import CreateRoom
from bot.core.logs import fact
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, text_html
from bot.state.outbox import Outbox
from bot.transport.matrix.content import notice
from bot.transport.matrix.sending import NotYet, Sender

log = logging.getLogger("opsbot.matrix")

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
ROOM_KEY = "org.opsbot.room"


def room_key_state(key: str) -> dict[str, Any]:
    return {"type": ROOM_KEY, "state_key": "", "content": {"key": key}}


class RoomCreator:
    def __init__(self, client: AsyncClient, engine: Engine, ledger: Outbox, sender: Sender) -> None:
        self.client = client
        self.engine = engine
        self.ledger = ledger
        self.sender = sender

    def order_key(self, effect: CreateRoom) -> str:
        return effect.link_in or f"key:{effect.key}"

    async def send(self, effect: CreateRoom, identity: str) -> str | None:
        room_id = self.ledger.room_of(effect.key)
        if room_id is None:
            me = self.client.user_id
            response = await self.client.room_create(
                name=effect.name,
                topic=effect.topic,
                invite=[u for u in effect.invite if u != me],
                initial_state=[ENCRYPTION, room_key_state(effect.key)],
            )
            if not isinstance(response, RoomCreateResponse):
                raise NotYet(f"could not create the room: {response}")
            room_id = str(response.room_id)
            self.ledger.room_made(effect.key, room_id)
            fact(log, "room created", key=effect.key, room=room_id)
        if effect.then is not None:
            request = self.engine.request_from(effect.then, room=room_id)
            invocation = Invocation(
                sender=str(self.client.user_id),
                sender_name="opsbot",
                text=f"({request.name} {room_id})",
                event_id=f"room:{effect.key}",
                received_at=datetime.now(UTC),
                room_id=effect.link_in,
                transport="matrix",
            )
            reply = await asyncio.to_thread(self.engine.request, request, invocation)
            if not reply.ok and reply.error == "internal":
                raise NotYet(f"could not record the room: {reply.text}")
        if effect.link_in and effect.link_in in self.client.rooms:
            link = f"https://matrix.to/#/{room_id}"
            content = notice(
                f"{effect.link_text}: {link}",
                f'{text_html(effect.link_text)}: <a href="{link}">{html.escape(room_id)}</a>',
            )
            await self.sender.send(effect.link_in, content, identity, "link")
        return room_id
