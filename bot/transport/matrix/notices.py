"""Notices: what the bot says unasked (an alert, a change made outside chat), to the rooms a
`Notify` names, the room a `CreateRoom` made for it, and the announcement rooms of the policy.

A room it names that the bot is not in yet holds the notice back; an announcement room the bot
was never invited to is skipped, and the log says so.
"""

import asyncio
import html
import logging
from typing import Any

from nio import AsyncClient

from bot.core.effects import Notify
from bot.core.logs import fact
from bot.engine.dispatch import Engine
from bot.engine.types import text_html
from bot.state.outbox import Outbox
from bot.transport.matrix.content import notice
from bot.transport.matrix.sending import NotYet, Sender

log = logging.getLogger("opsbot.matrix")


def pill(user_id: str) -> str:
    """A mention as clients render it: a link to the user."""
    return f'<a href="https://matrix.to/#/{html.escape(user_id)}">{html.escape(user_id)}</a>'


def mention_content(text: str, mentions: tuple[str, ...]) -> dict[str, Any]:
    plain = f"{text}\n{' '.join(mentions)}" if mentions else text
    markup = text_html(text)
    if mentions:
        markup += "<br>" + " ".join(pill(m) for m in mentions)
    return notice(plain, markup, mentions=mentions)


class NoticeSender:
    def __init__(self, client: AsyncClient, engine: Engine, ledger: Outbox, sender: Sender) -> None:
        self.client = client
        self.engine = engine
        self.ledger = ledger
        self.sender = sender

    def order_key(self, effect: Notify) -> str:
        return effect.rooms[0] if effect.rooms else f"key:{effect.room_key or 'announce'}"

    async def send(self, effect: Notify, identity: str) -> str | None:
        rooms = list(effect.rooms)
        if effect.room_key is not None:
            made = self.ledger.room_of(effect.room_key)
            if made is not None:
                rooms.append(made)
            elif self.ledger.waiting(f"room:{effect.room_key}"):
                raise NotYet(f"the room {effect.room_key} is not made yet")
        optional = await asyncio.to_thread(self.engine.announce_rooms) if effect.announce else []
        content = mention_content(effect.text, effect.mentions)
        first: str | None = None
        for room in dict.fromkeys([*rooms, *optional]):  # each room once, in order
            if room not in self.client.rooms:
                if room in rooms:
                    raise NotYet(f"not in {room} yet")
                # An announcement room the bot was never invited to: said, not waited for.
                fact(
                    log,
                    "not in an announcement room; skipped",
                    logging.WARNING,
                    room=room,
                    effect=identity,
                )
                continue
            sent = await self.sender.send(room, content, identity, room)
            first = first or sent
        return first
