"""Where the listener's notices go: a room of the host config, or else the announcement rooms,
through callbacks the Matrix transport provides (this package knows nothing of Matrix)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.engine.dispatch import Engine
from bot.engine.effects import Effect, Notify
from bot.logs import fact

log = logging.getLogger("opsbot.http")

Post = Callable[[str, str], Awaitable[None]]
"""Posts a notice (plain text) to a room: `post(room_id, text)`."""
Announce = Callable[[str], Awaitable[None]]
"""Posts a notice to the announcement rooms of policy.toml."""
RunEffects = Callable[[tuple[Effect, ...], str, str], Awaitable[None]]
"""Carries out a command's effects: `run(effects, event_id, room_id)`, as the Matrix
transport's `EffectRunner.run` does (notices with mentions, incident rooms)."""

MAX_NOTICE = 4000  # characters; what is cut is said to be cut


class Notices:
    def __init__(
        self,
        engine: Engine,
        post: Post,
        announce: Announce | None = None,
        run_effects: RunEffects | None = None,
    ) -> None:
        self.engine = engine
        self.post = post
        self.announce = announce
        self.run_effects = run_effects

    async def send(self, text: str, room: str | None) -> None:
        """To `room`, or to the announcement rooms when the config names none."""
        text = clip(text)
        if room is not None:
            await self.post(room, text)
        elif self.announce is not None:
            await self.announce(text)
        else:
            fact(log, "no room to post to; set one in the host config", logging.WARNING)

    async def effects(self, effects: tuple[Effect, ...], event_id: str, room: str | None) -> None:
        """A command's effects: by the transport when it can; else its notices, as plain text
        (an incident room cannot be created without it)."""
        if not effects:
            return
        if self.run_effects is not None and room is not None:
            await self.run_effects(effects, event_id, room)
            return
        for effect in effects:
            if not isinstance(effect, Notify):
                fact(log, "effect not carried out: no transport for it", kind=type(effect).__name__)
                continue
            text = " ".join([effect.text, *effect.mentions])
            targets = list(effect.rooms)
            if effect.to_incident:
                found = await asyncio.to_thread(self.engine.incident_room, effect.to_incident)
                targets += [found] if found else []
            for target in dict.fromkeys(targets):
                await self.post(target, text)
            if effect.announce and self.announce is not None:
                await self.announce(text)


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 20].rstrip() + "\n(... cut short)"
