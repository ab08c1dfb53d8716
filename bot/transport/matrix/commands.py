"""Commands typed in a room, on their way to the engine.

The transport vouches for who sent a command: their device and its key (found by the key that
encrypted the message), their cross-signing identity and whether it signed the device, and their
power in the room; the engine decides what these allow. Two things it refuses itself, before
the engine: a device whose key changed since the bot first saw it (which Matrix never allows),
and a sender past the rate limit. A message it cannot decrypt may be a command too: it is
answered so, not met with silence.
"""

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from nio import (
    AsyncClient,
    LocalProtocolError,
    MatrixRoom,
    MegolmEvent,
    RoomCreateEvent,
    RoomMessageText,
)

from bot.core.errors import Forbidden, RateLimited
from bot.core.logs import fact
from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, Reply
from bot.transport.matrix.journal import MatrixJournal
from bot.transport.matrix.people import People
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.matrix")

INFINITE_POWER = 2**53


class RoomCommands:
    def __init__(
        self,
        client: AsyncClient,
        engine: Engine,
        journal: MatrixJournal,
        rate_limit: RateLimit,
        people: People | None = None,
    ) -> None:
        self.client = client
        self.engine = engine
        self.journal = journal
        self.rate_limit = rate_limit
        self.people = people  # cross-signing identities, learnt per key query
        self._creators: dict[str, set[str]] = {}

    def note_creators(self, room_id: str, event: RoomCreateEvent) -> None:
        """The room's creators, from its create event: see `_power_level`."""
        content = event.source.get("content", {})
        extra = content.get("additional_creators", [])
        self._creators[room_id] = {event.sender, *(u for u in extra if isinstance(u, str))}

    async def handle(self, room: MatrixRoom, event: RoomMessageText) -> Reply:
        """Hands the command to the engine, or refuses it here; its answer is owed either way."""
        device_id, device_key = await self._device_of(event)
        if (
            device_id
            and device_key
            and not self.journal.first_use(event.sender, device_id, device_key)
        ):
            fact(
                log,
                "device key changed for a known device; refusing",
                logging.WARNING,
                room=room.room_id,
                event=event.event_id,
                sender=event.sender,
                device=device_id,
            )
            return self._refuse(
                room,
                event,
                Forbidden(
                    f"the key of your device {device_id} changed since I first saw it, which "
                    "Matrix never allows; I will not act on messages from it",
                    hint="tell an admin; verify the device, then an admin can !trust it",
                ),
            )
        wait = self.rate_limit.take(event.sender)
        if wait:
            return self._refuse(
                room,
                event,
                RateLimited(
                    f"too many commands from you; try again in {wait:.0f}s",
                    hint="the rate limit protects the repo from floods",
                ),
            )
        master, cross_signed = await self._identity_of(event.sender, device_id, device_key)
        invocation = Invocation(
            sender=event.sender,
            sender_name=room.user_name(event.sender) or event.sender,
            text=event.body,
            event_id=event.event_id,
            received_at=datetime.fromtimestamp(event.server_timestamp / 1000, UTC),
            room_id=room.room_id,
            room_name=room.display_name,
            transport="matrix",
            power_level=self._power_level(room, event.sender),
            device_id=device_id or "(unknown)",
            device_key=device_key,
            master_key=master,
            device_cross_signed=cross_signed,
            encrypted=bool(event.decrypted),
            room_members=frozenset(room.users),
            answer=True,
        )
        reply = await self.engine.handle(invocation)
        assert reply is not None  # command_text() said it was a command
        return reply

    def _refuse(self, room: MatrixRoom, event: Any, error: Forbidden | RateLimited) -> Reply:
        """A refusal of the transport's own, before the engine: owed like any answer."""
        reply = Reply.refusal(error)
        self.engine.answer_before_dispatch(room.room_id, event.event_id, event.sender, reply)
        return reply

    async def undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        """A message the bot cannot read may be a command: answered, and its key asked for."""
        with contextlib.suppress(LocalProtocolError):  # already requested for this session
            await self.client.request_room_key(event)
        text = (
            "I could not read your message: it is encrypted with a key I have not received. "
            "I have asked your devices for it; please send the command again."
        )
        reply = Reply(False, None, text, text, error="undecryptable")
        self.engine.answer_before_dispatch(room.room_id, event.event_id, event.sender, reply)
        fact(
            log,
            "undecryptable event",
            logging.WARNING,
            room=room.room_id,
            event=event.event_id,
            sender=event.sender,
            session=event.session_id,
        )

    async def _device_of(self, event: RoomMessageText) -> tuple[str | None, str | None]:
        """The sending device and its ed25519 key, found by the curve25519 key that encrypted
        the message; (None, None) for a message sent in clear."""
        if not event.decrypted or not event.sender_key:
            return None, None
        for attempt in range(2):
            for device in self.client.device_store.active_user_devices(event.sender):
                if device.curve25519 == event.sender_key:
                    return device.id, device.ed25519
            if attempt == 0:
                assert self.client.olm is not None
                self.client.olm.users_for_key_query.add(event.sender)
                if self.people is not None:
                    await self.people.query()
                else:
                    await self.client.keys_query()
        return None, None

    async def _identity_of(
        self, user_id: str, device_id: str | None, device_key: str | None
    ) -> tuple[str | None, bool | None]:
        """The sender's master key and whether it signed the device, as last queried (queried
        here only for a person never queried since the start)."""
        if self.people is None:
            return None, None
        if user_id not in self.people.known:
            await self.people.refresh([user_id])
        master = self.people.master_of(user_id)
        if device_id is None or device_key is None:
            return master, None
        return master, self.people.cross_signed(user_id, device_id, device_key)

    def _power_level(self, room: MatrixRoom, user_id: str) -> int:
        # Room version 12 gives the room's creators unlimited power, outside m.room.power_levels.
        if room.room_version == "12" and user_id in self._creators.get(room.room_id, set()):
            return INFINITE_POWER
        return int(room.power_levels.get_user_level(user_id))
