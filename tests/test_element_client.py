"""The bot as a person on Element sees it: matrix-js-sdk with its Rust crypto (the stack Element
Web runs), driven by tests/js/element_client.mjs in Node, against the real test Synapse.

The person cross-signs their own device, as Element does on first login; the bot must then look
like any other cross-signed peer: its replies decrypt with no warning shield, and in the "exclude
insecure devices" mode (MSC4153) the person's client still shares its room key with the bot."""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from matrix_harness import BotProcess, unique
from test_matrix_cross_signing import device_of, keys_of

from bot.core.ids import fingerprint
from bot.transport.matrix.signed_json import key_public
from devtools.devclient import Person
from devtools.devserver import Homeserver

pytestmark = pytest.mark.matrix

JS = Path(__file__).parent / "js"
SCRIPT = JS / "element_client.mjs"


def _installed() -> bool:
    stamp = JS / "node_modules" / ".package-lock.json"
    return stamp.exists() and stamp.stat().st_mtime >= (JS / "package-lock.json").stat().st_mtime


@pytest.fixture(scope="session")
def node() -> str:
    """The Node binary for the Element-stack client, with tests/js installed (scripts/test
    installs it; here too, for a bare pytest run). Skips, saying why, when it cannot be."""
    if not _installed():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(
                "npm is not installed: the Element-stack client (tests/js) cannot be set up"
            )
        done = subprocess.run(
            [npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund", "--prefer-offline"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"npm ci in tests/js failed (offline?): {last}")
    # The `node` package in tests/js brings the Node version matrix-js-sdk asks for.
    pinned = JS / "node_modules" / ".bin" / "node"
    binary = str(pinned) if pinned.exists() else shutil.which("node")
    if binary is None:
        pytest.skip("node is not installed: the Element-stack client (tests/js) cannot run")
    return binary


class ElementPerson:
    """A person on the test homeserver whose client is matrix-js-sdk; each `say` is one fresh
    login (a new cross-signed device) that sends one message and reports the bot's reply."""

    def __init__(self, homeserver: Homeserver, node: str) -> None:
        self.homeserver = homeserver
        self.node = node
        self.password = secrets.token_urlsafe(12)
        self.user_id = homeserver.register(unique("eve"), self.password, displayname="Eve")

    async def say(
        self, room: str, bot: str, text: str, isolation: str = "all", timeout: float = 60
    ) -> dict[str, Any]:
        # Each value joined to its option: a password may begin with "-", which Node's
        # parseArgs would take for an option of its own.
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(SCRIPT),
            f"--homeserver={self.homeserver.base_url}",
            f"--user={self.user_id}",
            f"--password={self.password}",
            f"--room={room}",
            f"--bot={bot}",
            f"--text={text}",
            f"--isolation={isolation}",
            f"--timeout={timeout}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout + 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        tail = "\n".join(err.decode(errors="replace").splitlines()[-30:])
        assert process.returncode == 0, f"the Element-stack client failed:\n{tail}"
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        return result


async def shared_room(alice: Person, opsbot: BotProcess, eve: ElementPerson) -> str:
    """An encrypted room made by alice with the bot in it and eve invited (her client joins)."""
    room = await alice.create_room(invite=[opsbot.user_id, eve.user_id])
    await alice.until_joined(room, opsbot.user_id)
    return room


async def master_of(alice: Person, opsbot: BotProcess) -> str:
    master = key_public((await keys_of(alice, opsbot.user_id))["master_keys"][opsbot.user_id])
    assert master is not None
    return master


def assert_trusted_reply(result: dict[str, Any], master: str) -> None:
    """The bot's !whoami reply reached the person, decrypted, with no warning shield."""
    reply = result["reply"]
    assert result["crossSigningReady"], result
    assert reply["decrypted"], reply
    assert reply["in_reply_to_sent"] and reply["msgtype"] == "m.notice", reply
    # The command ran (the bot read it): its answer names the bot's master key.
    assert f"opsbot: master key {fingerprint(master)}" in reply["body"], reply
    assert reply["shield"] == {"colour": "NONE", "reason": None}, reply


def assert_signed_by_owner(result: dict[str, Any], device: str) -> None:
    status = result["botDevices"][device]
    assert status["signedByOwner"], result["botDevices"]
    # Not verified by the person (nobody compared fingerprints): no green tick, no red shield.
    assert not status["crossSigningVerified"], status


async def test_default_mode_the_reply_decrypts_with_no_warning(
    node: str, homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    eve = ElementPerson(homeserver, node)
    opsbot.start()
    room = await shared_room(alice, opsbot, eve)
    result = await eve.say(room, opsbot.user_id, "!whoami")
    assert_trusted_reply(result, await master_of(alice, opsbot))
    assert_signed_by_owner(result, device_of(opsbot))
    opsbot.stop()


async def test_exclude_insecure_devices_the_bot_reads_and_is_read_even_with_a_new_device(
    node: str, homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    eve = ElementPerson(homeserver, node)
    opsbot.start()
    room = await shared_room(alice, opsbot, eve)
    master = await master_of(alice, opsbot)
    result = await eve.say(room, opsbot.user_id, "!whoami", isolation="signed")
    # The person's client shared its room key with the bot's device (else no !whoami answer).
    assert_trusted_reply(result, master)
    assert_signed_by_owner(result, device_of(opsbot))

    # The crypto store is lost: the bot logs in as a new device, signed by the same identity,
    # so the strict mode still talks to it.
    before = device_of(opsbot)
    opsbot.stop()
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")
    opsbot.start()
    assert device_of(opsbot) != before
    again = await eve.say(room, opsbot.user_id, "!whoami", isolation="signed")
    assert_trusted_reply(again, master)
    assert_signed_by_owner(again, device_of(opsbot))
    opsbot.stop()


async def test_control_an_unsigned_bot_device_fails_the_same_bar(
    node: str, homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    """What the tests above would see without cross-signing (the issue's measurement): the bot's
    private keys and crypto store are lost, so it serves from a new device nobody signed."""
    opsbot.start()
    opsbot.stop()
    (opsbot.paths.state_dir / "matrix" / "cross_signing.json").unlink()
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")
    opsbot.start()
    eve = ElementPerson(homeserver, node)
    room = await shared_room(alice, opsbot, eve)

    result = await eve.say(room, opsbot.user_id, "!whoami")
    assert result["reply"]["decrypted"], result
    assert result["reply"]["shield"] == {"colour": "RED", "reason": "UNSIGNED_DEVICE"}, result
    assert not result["botDevices"][device_of(opsbot)]["signedByOwner"]

    # Exclude insecure devices: the command never reaches the bot, and whatever it says (it may
    # answer that it could not read the message) cannot be read either.
    strict = await eve.say(room, opsbot.user_id, "!whoami", isolation="signed", timeout=10)
    assert strict["reply"] is None or not strict["reply"]["decrypted"], strict
    opsbot.stop()
