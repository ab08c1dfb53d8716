"""The throwaway Synapse: it starts, registers users, survives a restart, and carries an
end-to-end-encrypted message between two matrix-nio clients the way the bot will."""

import json
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MegolmEvent,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from devtools.devserver import Homeserver, UserExists

PASSWORD = "correct horse battery staple"
ENCRYPTION = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    with Homeserver(tmp_path_factory.mktemp("synapse")) as server:
        yield server


@pytest.fixture
def new_user(homeserver: Homeserver) -> Callable[[str], str]:
    """Registers a fresh user; the server is shared by the module, so localparts must differ."""

    def register(name: str) -> str:
        return homeserver.register(f"{name}-{uuid.uuid4().hex[:8]}", PASSWORD)

    return register


@asynccontextmanager
async def logged_in(
    homeserver: Homeserver, user_id: str, store: Path
) -> AsyncIterator[AsyncClient]:
    """A nio client with encryption on, logged in with a password, its device keys uploaded."""
    store.mkdir(parents=True, exist_ok=True)
    client = AsyncClient(
        homeserver.base_url,
        user_id,
        store_path=str(store),
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
    )
    try:
        response = await client.login(PASSWORD, device_name="opsbot-test")
        assert isinstance(response, LoginResponse), response
        # Until the device keys are on the server, nobody can share a room key with it.
        if client.should_upload_keys:
            await client.keys_upload()
        yield client
    finally:
        await client.close()


async def sync(client: AsyncClient, timeout_ms: int = 0) -> SyncResponse:
    """One /sync plus the key housekeeping that nio's `sync_forever` does after each one."""
    response = await client.sync(timeout=timeout_ms)
    assert isinstance(response, SyncResponse), response
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())
    return response


def test_answers_the_client_versions_endpoint(homeserver: Homeserver) -> None:
    with urllib.request.urlopen(f"{homeserver.base_url}/_matrix/client/versions") as response:
        assert response.status == 200
        assert json.load(response)["versions"]


def test_registering_a_taken_localpart_says_so(homeserver: Homeserver) -> None:
    user_id = homeserver.register("twice", PASSWORD, displayname="Twice")
    assert user_id == f"@twice:{homeserver.server_name}"
    with pytest.raises(UserExists, match="already registered"):
        homeserver.register("twice", PASSWORD)


async def test_encrypted_message_round_trip(
    homeserver: Homeserver, new_user: Callable[[str], str], tmp_path: Path
) -> None:
    alice_id, bob_id = new_user("alice"), new_user("bob")
    async with (
        logged_in(homeserver, alice_id, tmp_path / "alice") as alice,
        logged_in(homeserver, bob_id, tmp_path / "bob") as bob,
    ):
        created = await alice.room_create(initial_state=[ENCRYPTION], invite=[bob_id])
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id

        await sync(bob)
        assert room_id in bob.invited_rooms
        assert isinstance(await bob.join(room_id), JoinResponse)

        # Alice must see Bob joined and know his device before she creates the Megolm session,
        # or the room key goes to nobody and Bob gets a message he cannot decrypt.
        await sync(alice)
        assert bob_id in alice.rooms[room_id].users
        assert alice.rooms[room_id].encrypted
        sent = await alice.room_send(
            room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "hello, encrypted"},
            ignore_unverified_devices=True,
        )
        assert isinstance(sent, RoomSendResponse), sent

        received: list[RoomMessageText] = []
        for _ in range(10):
            response = await sync(bob, timeout_ms=1000)
            room = response.rooms.join.get(room_id)
            events = room.timeline.events if room else []
            assert not [e for e in events if isinstance(e, MegolmEvent)], "undecryptable event"
            received += [e for e in events if isinstance(e, RoomMessageText)]
            if received:
                break
        assert [(e.sender, e.body, e.decrypted) for e in received] == [
            (alice_id, "hello, encrypted", True)
        ]


async def test_restart_keeps_users_and_sessions(
    homeserver: Homeserver, new_user: Callable[[str], str], tmp_path: Path
) -> None:
    user_id = new_user("carol")
    base_url = homeserver.base_url
    async with logged_in(homeserver, user_id, tmp_path / "before") as before:
        await sync(before)
        homeserver.restart()
        assert homeserver.base_url == base_url
        # Same port and database: a client that was connected carries on with its token.
        await sync(before)
    async with logged_in(homeserver, user_id, tmp_path / "after") as after:
        assert after.user_id == user_id
