"""People trusted by identity, on a real Synapse: a pinned master key vouches for every device
its owner cross-signs, a second login included, and a reset identity is refused and announced.

The person's cross-signing is done here as their client would do it, with the bot's own helpers:
a master and self-signing key uploaded with their password, and each of their devices signed by
the self-signing key. A "reset" uploads a new master key, as "Reset cryptographic identity" in
Element does, and signs the device the person is on with it.
"""

import asyncio
from pathlib import Path
from typing import Any

from bot.core.ids import fingerprint
from bot.transport.matrix.cross_signing_keys import CrossSigningKeys
from bot.transport.matrix.homeserver_keys import Homeserver, own_device
from devtools.devclient import Person
from devtools.devserver import Homeserver as Synapse
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess

CHANGED = "The cross-signing identity of"  # how the announcement begins


async def sign_device(someone: Person, keys: CrossSigningKeys) -> None:
    """Signs the device `someone` is logged in on with the self-signing key of `keys`."""
    server = Homeserver(someone.client)
    device = own_device(await server.own_keys(), someone.user_id, str(someone.client.device_id))
    assert device is not None, "the device's keys are not on the homeserver"
    await server.sign_device(keys, device)


async def new_identity(someone: Person) -> CrossSigningKeys:
    """A new cross-signing identity for `someone`, uploaded (the homeserver asks for the
    password when it replaces one), and the device they are on signed with it."""
    keys = CrossSigningKeys.generate(someone.user_id)
    await Homeserver(someone.client).upload_keys(keys, someone.password)
    await sign_device(someone, keys)
    return keys


async def deploy(someone: Person, room: str, version: str) -> dict[str, Any]:
    event = await someone.send(room, f"!deploy web {version} to prod")
    return await someone.reply_to(event, timeout=60)


async def test_a_pinned_identity_verifies_a_second_device_and_its_reset_is_refused_and_announced(
    homeserver: Synapse, tmp_path: Path, alice: Person, opsbot: BotProcess
) -> None:
    keys = await new_identity(alice)  # before the bot first sees her: it learns her identity
    opsbot.start()
    room = await alice.create_room(invite=[opsbot.user_id])
    await alice.until_joined(room, opsbot.user_id)
    opsbot.stop()
    policy = git(opsbot.repo, "show", "main:policy.toml") + (
        f'\n[commands.deploy]\nrequire_verified_device = true\n\n[rooms]\nannounce = ["{room}"]\n'
    )
    opsbot.configure({"policy.toml": policy}, "deploys need a verified device", alice.user_id)
    opsbot.start()

    # Not yet pinned: her cross-signed device is not enough.
    refused = await deploy(alice, room, "1.0.0")
    assert refused["opsbot"]["error"] == "forbidden", refused
    assert f"!trust {alice.user_id} (your identity)" in str(refused["body"])

    # `!trust @alice` pins the master key the bot saw on the homeserver.
    event = await alice.send(room, f"!trust {alice.user_id}")
    trusted = await alice.reply_to(event)
    assert trusted["opsbot"]["ok"] is True, trusted["body"]
    assert fingerprint(keys.master_public) in trusted["body"]
    assert f'"{alice.user_id}" = "{keys.master_public}"' in git(
        opsbot.repo, "show", "main:policy.toml"
    )
    assert (await deploy(alice, room, "1.0.1"))["opsbot"]["ok"] is True

    # A second login, cross-signed with the same keys: verified, with no new !trust.
    phone = Person(homeserver.base_url, alice.user_id, alice.password, tmp_path / "alice-phone")
    try:
        await phone.login()
        assert phone.client.device_id != alice.client.device_id
        await sign_device(phone, keys)
        await phone.until(lambda: room in phone.client.rooms, "the room on the new device")
        trusts = git(opsbot.repo, "log", "--oneline", "--grep=^trust: ", "main")
        reply = await deploy(phone, room, "1.0.2")
        assert reply["opsbot"]["ok"] is True, reply["body"]
        assert git(opsbot.repo, "log", "--oneline", "--grep=^trust: ", "main") == trusts
        assert git(opsbot.repo, "log", "-1", "--format=%ae", "main").strip() == alice.user_id

        # She resets her identity on the phone: a new master key, the phone signed with it.
        head = git(opsbot.repo, "rev-parse", "main")
        new = await new_identity(phone)
        assert new.master_public != keys.master_public
        reply = await deploy(phone, room, "1.0.3")
        body = str(reply["body"])
        assert reply["opsbot"]["error"] == "forbidden", body
        assert "your cross-signing identity changed" in body
        assert fingerprint(keys.master_public) in body and fingerprint(new.master_public) in body
        assert f"!trust {alice.user_id} {new.master_public}" in body  # what an admin types
        # Her first device, which the old identity signed, is refused too.
        again = await deploy(alice, room, "1.0.4")
        assert "your cross-signing identity changed" in str(again["body"])
        assert git(opsbot.repo, "rev-parse", "main") == head

        # The change is announced in the announcement room, once.
        def announced() -> list[str]:
            return [
                str(source["content"]["body"])
                for r, source in phone.events
                if r == room and str(source["content"].get("body", "")).startswith(CHANGED)
            ]

        await phone.until(lambda: bool(announced()), "the announcement", timeout=60)
        await asyncio.sleep(3)  # time for a second one, which must not come
        await phone.sync()
        assert len(announced()) == 1, announced()
        text = announced()[0]
        assert alice.user_id in text and fingerprint(new.master_public) in text
        assert f"!trust {alice.user_id} {new.master_public}" in text
    finally:
        await phone.close()
    opsbot.stop()
