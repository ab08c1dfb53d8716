"""The bot as a person on Element sees it: matrix-js-sdk with its Rust crypto (the stack Element
Web runs), driven by tests/js/element_client.mjs in Node, against the real test Synapse.

The person cross-signs their own device, as Element does on first login; the bot must then look
like any other cross-signed peer: its replies decrypt with no warning shield, and in the "exclude
insecure devices" mode (MSC4153) the person's client still shares its room key with the bot."""

import shutil
from typing import Any

from bot.core.ids import fingerprint
from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.element import ElementPerson, master_of, shared_room
from tests.helpers.matrix import BotProcess, device_of


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
