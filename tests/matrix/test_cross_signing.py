"""The bot cross-signs itself on a real Synapse, and stays the same identity when its crypto
store is lost: what a person's client sees in /keys/query."""

import shutil
import subprocess
import sys
from typing import Any

from bot.core.ids import fingerprint
from bot.transport.matrix.signed_json import key_public, verifies
from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, device_of, keys_of


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

    # The private keys are lost too: the bot says so once, makes no new identity, and serves.
    opsbot.stop()
    keys_file.unlink()
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")
    opsbot.start()
    lost = [f for f in opsbot.facts() if "private keys are lost" in f.get("msg", "")]
    assert len(lost) == 1 and "opsbot keys reset" in lost[0]["msg"]
    answer = await keys_of(alice, opsbot.user_id)
    assert key_public(answer["master_keys"][opsbot.user_id]) == master
    device = answer["device_keys"][opsbot.user_id][device_of(opsbot)]
    assert not verifies(device, opsbot.user_id, signer)
    assert not keys_file.exists()
    opsbot.stop()


def opsbot_keys(opsbot: BotProcess, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "keys", *args, "--config", str(opsbot.config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_keys_and_whoami_show_the_identity_and_a_reset_is_announced(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await alice.create_room(invite=[opsbot.user_id])
    await alice.until_joined(room, opsbot.user_id)
    opsbot.stop()
    policy = git(opsbot.repo, "show", "main:policy.toml") + f'\n[rooms]\nannounce = ["{room}"]\n'
    opsbot.configure({"policy.toml": policy}, "announce in the ops room", alice.user_id)
    opsbot.start()
    master, _ = signed_device(await keys_of(alice, opsbot.user_id), opsbot)

    shown = opsbot_keys(opsbot)
    assert f"master key: {fingerprint(master)}\n" in shown
    assert f"device: {device_of(opsbot)}, ed25519 key " in shown
    event = await alice.send(room, "!whoami")
    assert f"opsbot: master key {fingerprint(master)}" in (await alice.reply_to(event))["body"]

    # An explicit reset, while the bot runs: new keys on the homeserver, the device signed by
    # the new self-signing key, and the rooms told.
    out = opsbot_keys(opsbot, "reset")
    answer = await keys_of(alice, opsbot.user_id)
    new_master, _ = signed_device(answer, opsbot)
    assert new_master != master
    assert f"new master key: {fingerprint(new_master)}" in out

    def announced() -> list[str]:
        return [
            s["content"]["body"]
            for r, s in alice.events
            if r == room and "My identity was reset" in s["content"].get("body", "")
        ]

    await alice.until(lambda: bool(announced()), "the announcement", timeout=60)
    assert fingerprint(new_master) in announced()[0]

    # The next start keeps the new identity: nothing uploaded, the device still signed.
    opsbot.stop()
    opsbot.start()
    assert signed_device(await keys_of(alice, opsbot.user_id), opsbot)[0] == new_master
    assert opsbot_keys(opsbot).count(fingerprint(new_master)) == 1
    opsbot.stop()


async def test_keys_from_a_credential_sign_a_new_device_and_are_never_written(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    master, signer = signed_device(await keys_of(alice, opsbot.user_id), opsbot)
    opsbot.stop()
    # The operator moves the keys out of the state directory, into a systemd credential.
    credential = opsbot.root / "credentials" / "cross_signing.json"
    credential.parent.mkdir()
    (opsbot.paths.state_dir / "matrix" / "cross_signing.json").rename(credential)
    credential.chmod(0o400)
    opsbot.config.write_text(
        opsbot.config.read_text().replace(
            "[matrix]\n", f'[matrix]\ncross_signing_key_file = "{credential}"\n'
        )
    )
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")  # and a new device, too
    opsbot.start()
    assert signed_device(await keys_of(alice, opsbot.user_id), opsbot) == (master, signer)
    assert not (opsbot.paths.state_dir / "matrix" / "cross_signing.json").exists()
