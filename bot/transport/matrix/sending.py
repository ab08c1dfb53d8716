"""How a message reaches a room, whatever effect it carries.

A message too long for one event goes out in pages. Each send has a transaction id derived from
the effect's identity, so a send repeated after a crash is the same send to the homeserver,
which does not post it twice. What the homeserver answers decides what the deliverer does next:
wait and try again (`NotYet`), give this effect up (`Undeliverable`), or stop (`Fatal`).
"""

import asyncio
import hashlib
import logging
from typing import Any

from nio import AsyncClient, RoomSendResponse

from bot.core.logs import fact
from bot.transport.matrix.content import pages, refused_notice, replying_to, serialized_size
from bot.transport.matrix.people import People

log = logging.getLogger("opsbot.matrix")


class Fatal(Exception):
    """The homeserver says the bot may not go on (its token was revoked)."""


class NotYet(Exception):
    """Delivery must wait: the homeserver is away, or a room is not known yet."""


class Undeliverable(Exception):
    """Delivery can never succeed: the bot cannot speak in that room."""


def txn(identity: str, part: str = "") -> str:
    """The transaction id of one send of an effect: the same for every attempt."""
    return "opsbot-" + hashlib.sha256(f"{identity}|{part}".encode()).hexdigest()[:32]


class Sender:
    """Sends messages to rooms for the deliverer, a few at once."""

    def __init__(self, client: AsyncClient, people: People | None = None) -> None:
        self.client = client
        self.people = people
        self._querying = asyncio.Lock()  # one key query for the answers sent at once

    async def send(
        self, room_id: str, content: dict[str, Any], identity: str, part: str = ""
    ) -> str | None:
        """Sends `content`, in pages if it is too long for one event; the first page's id."""
        first: str | None = None
        for number, page in enumerate(pages(content), start=1):
            sent = await self.send_one(room_id, page, txn(identity, f"{part}#{number}"))
            first = first or sent
        return first

    async def send_one(
        self, room_id: str, content: dict[str, Any], txn_id: str, *, fallback: bool = True
    ) -> str | None:
        """Sends one event; a message the homeserver refuses for good is replaced by a short
        notice saying so (`fallback`), and None is its id when that is refused too."""
        if self.people is not None:
            async with self._querying:
                if self.client.should_query_keys:
                    # Before nio shares a room key with a device it has just learnt of: its
                    # owner's signature is checked first (share_keys_with).
                    await self.people.query()
        try:
            response = await self.client.room_send(
                room_id, "m.room.message", content, tx_id=txn_id, ignore_unverified_devices=True
            )
        except (OSError, TimeoutError) as e:
            raise NotYet(f"{type(e).__name__}: {e}") from None
        if isinstance(response, RoomSendResponse):
            return str(response.event_id)
        code = response.status_code
        status = response.transport_response.status if response.transport_response else None
        if code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            raise Fatal(f"the homeserver rejected the access token ({response.message})")
        if code in ("M_FORBIDDEN", "M_NOT_FOUND"):
            raise Undeliverable(f"cannot speak in {room_id}: {code}")
        too_large = code == "M_TOO_LARGE" or status == 413
        if too_large or (status is not None and 400 <= status < 500 and status != 429):
            # Sending it again would be refused again: say so in its place, and move on.
            fact(
                log,
                "the homeserver refused a message; not retrying",
                logging.WARNING,
                room=room_id,
                event=replying_to(content),
                txn=txn_id,
                error=code,
                status=status,
                size=serialized_size(content),
            )
            if not fallback:
                return None
            why = code if code and code.isascii() and code.replace("_", "").isalnum() else ""
            instead = refused_notice(content, too_large=too_large, why=why or f"HTTP {status}")
            return await self.send_one(room_id, instead, f"{txn_id}-refused", fallback=False)
        raise NotYet(f"send failed: {code} {response.message}")
