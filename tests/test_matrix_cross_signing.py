"""The bot cross-signs itself on a real Synapse, and stays the same identity when its crypto
store is lost: what a person's client sees in /keys/query."""

import json
import shutil
from typing import Any

import pytest
from matrix_harness import BotProcess

from bot.transport.matrix.cross_signing import key_public, verifies
from devtools.devclient import Person

pytestmark = pytest.mark.matrix


async def keys_of(person: Person, user_id: str) -> dict[str, Any]:
    """/keys/query as a person's client asks it, raw."""
    client = person.client
    response = await client.send(
        "POST", "/_matrix/client/v3/keys/query", json.dumps({"device_keys": {user_id: []}}),
        headers={"Authorization": f"Bearer {client.access_token}"},
    )  # fmt: skip
    async with response:
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
    return answer


def device_of(opsbot: BotProcess) -> str:
    credentials = opsbot.paths.state_dir / "matrix" / "credentials.json"
    return str(json.loads(credentials.read_text())["device_id"])


def signed_device(answer: dict[str, Any], opsbot: BotProcess) -> tuple[str, str]:
    """The master key, and the self-signing key that signed the bot's current device."""
    user = opsbot.user_id
    master = key_public(answer["master_keys"][user])
    self_signing = answer["self_signing_keys"][user]
    assert master is not None and verifies(self_signing, user, master)
    signer = key_public(self_signing)
    assert signer is not None
    device = answer["device_keys"][user][device_of(opsbot)]
    assert verifies(device, user, signer), device["signatures"]
    return master, signer


async def test_the_bot_is_cross_signed_and_stays_so_with_a_new_device(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    master, signer = signed_device(await keys_of(alice, opsbot.user_id), opsbot)
    keys_file = opsbot.paths.state_dir / "matrix" / "cross_signing.json"
    assert keys_file.stat().st_mode & 0o077 == 0
    assert any(f.get("msg") == "device cross-signed" for f in opsbot.facts())

    # The crypto store is lost: a new device, signed by the same self-signing key.
    before = device_of(opsbot)
    opsbot.stop()
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")
    opsbot.start()
    assert device_of(opsbot) != before
    again = await keys_of(alice, opsbot.user_id)
    assert signed_device(again, opsbot) == (master, signer)
    uploads = [f for f in opsbot.facts() if f.get("msg") == "cross-signing keys uploaded"]
    assert len(uploads) == 1  # reused, not uploaded again
    opsbot.stop()
