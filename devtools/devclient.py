"""A person's Matrix client, end-to-end encrypted, for the demo, the tests and the benchmarks.

It does what a person's client does when they talk to opsbot: logs in with its own device and
crypto store, creates an encrypted room and invites the bot, sends commands as `m.text`, and reads
the bot's replies decrypted. Nothing here is used by the bot itself.
"""

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    DownloadError,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomSendResponse,
    SyncResponse,
)
from nio.crypto.attachments import decrypt_attachment

from bot.transport.matrix.keys import after_sync

ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


class Person:
    def __init__(self, homeserver: str, user_id: str, password: str, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        self.events: list[tuple[str, dict[str, Any]]] = []  # (room id, event source) in order
        self.undecryptable: list[MegolmEvent] = []
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def login(self) -> None:
        response = await self.client.login(self.password, device_name="person")
        if not isinstance(response, LoginResponse):
            raise RuntimeError(f"login as {self.user_id} failed: {response}")
        await self.sync()

    async def cross_sign(self) -> None:
        """A cross-signing identity of this person's own, and this device signed with it: what
        Element does at a first login. A bot that shares room keys only with devices their owner
        signed (MSC4153) then answers this person as it would answer someone on Element."""
        from bot.transport.matrix.cross_signing_keys import CrossSigningKeys
        from bot.transport.matrix.homeserver_keys import Homeserver, own_device

        keys = CrossSigningKeys.generate(self.user_id)
        server = Homeserver(self.client)
        await server.upload_keys(keys, self.password)
        device = own_device(await server.own_keys(), self.user_id, str(self.client.device_id))
        if device is None:
            raise RuntimeError(f"the keys of {self.user_id}'s device are not on the homeserver")
        await server.sign_device(keys, device)

    async def sync(self, timeout_ms: int = 0) -> None:
        """One sync, then the key upkeep a real client does after each one."""
        response = await self.client.sync(
            timeout=timeout_ms,
            # A busy room between two syncs must not be cut short ("limited"): tests and
            # benchmarks count every reply.
            sync_filter={"room": {"timeline": {"limit": 1000}}},
            full_state=self.client.next_batch is None,
        )
        if not isinstance(response, SyncResponse):
            raise ConnectionError(f"sync failed: {response}")
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                if isinstance(event, MegolmEvent):
                    self.undecryptable.append(event)
                self.events.append((room_id, event.source))
        await after_sync(self.client)
        self._arrived.set()

    def start(self) -> None:
        """Keeps syncing in the background, as an open client does."""

        async def loop() -> None:
            while True:
                try:
                    await self.sync(timeout_ms=1000)
                except (TimeoutError, ConnectionError, OSError):
                    await asyncio.sleep(0.5)  # the homeserver is away; a client just retries

        self._task = asyncio.ensure_future(loop())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def create_room(
        self, invite: list[str], *, encrypted: bool = True, name: str = "ops"
    ) -> str:
        response = await self.client.room_create(
            name=name, invite=invite, initial_state=[ENCRYPTION] if encrypted else []
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"could not create a room: {response}")
        await self.until(lambda: response.room_id in self.client.rooms, "the room to sync")
        return str(response.room_id)

    async def until_joined(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        def joined() -> bool:
            room = self.client.rooms.get(room_id)
            return room is not None and user_id in room.users

        await self.until(joined, f"{user_id} to join {room_id}", timeout)

    async def send(self, room_id: str, text: str) -> str:
        response = await self.client.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": text},
            ignore_unverified_devices=True,
        )
        if not isinstance(response, RoomSendResponse):
            raise ConnectionError(f"send failed: {response}")
        return str(response.event_id)

    def replies_to(self, event_id: str) -> list[dict[str, Any]]:
        """The events that reply to `event_id` (edits excluded), as the client decrypted them."""
        found = []
        for _, source in self.events:
            relates = source.get("content", {}).get("m.relates_to", {})
            if relates.get("m.in_reply_to", {}).get("event_id") == event_id:
                found.append(source)
        return found

    async def reply_to(self, event_id: str, timeout: float = 30) -> dict[str, Any]:
        """The content of the bot's reply to `event_id`, once it arrives."""
        await self.until(lambda: bool(self.replies_to(event_id)), f"a reply to {event_id}", timeout)
        content: dict[str, Any] = self.replies_to(event_id)[0]["content"]
        return content

    async def download(self, content: dict[str, Any]) -> bytes:
        """The bytes of an `m.file` or `m.image` the client received, decrypted (checking the
        hash the sender put in the event) when it came encrypted."""
        encrypted = content.get("file")
        response = await self.client.download(mxc=encrypted["url"] if encrypted else content["url"])
        if isinstance(response, DownloadError):
            raise ConnectionError(f"download failed: {response}")
        body = response.body if isinstance(response.body, bytes) else response.body.read_bytes()
        if encrypted is None:
            return body
        return bytes(
            decrypt_attachment(
                body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"]
            )
        )

    async def until(self, condition: Any, what: str, timeout: float = 30) -> None:
        """Waits until `condition()` holds, syncing in the foreground unless a loop runs."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            if self._task is None:
                await self.sync(timeout_ms=500)
            else:
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), 1)
