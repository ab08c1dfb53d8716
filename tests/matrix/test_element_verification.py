"""A person verifies the bot from Element (matrix-js-sdk 43 with its Rust crypto, driven by
tests/js/verify_bot.mjs) with emojis: the bot answers the in-room request, and sends the MAC
that makes the person's client trust it only once its operator compared the emojis and ran
`opsbot keys confirm` on the host. A rejection, a mismatch seen by the person, or nobody
deciding in time ends the flow with a cancel event, and the bot stays unverified."""

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.core.ids import fingerprint
from bot.transport.matrix.signed_json import key_public
from devtools.devclient import Person
from tests.helpers.element import ElementPerson, master_of, shared_room
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, keys_of
from tests.helpers.paths import JS

SCRIPT = JS / "verify_bot.mjs"


class Flow:
    """The running verify_bot.mjs: its JSON lines, read as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self, step: str, timeout: float = 90) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            if not raw:
                err = await self.process.stderr.read() if self.process.stderr else b""
                tail = "\n".join(err.decode(errors="replace").splitlines()[-30:])
                raise AssertionError(f"verify_bot.mjs ended before {step!r}:\n{tail}")
            found: dict[str, Any] = json.loads(raw)
            if found.get("step") == step:
                return found


@asynccontextmanager
async def verifying(
    eve: ElementPerson, room: str, opsbot: BotProcess, decide: str, delay: float = 0
) -> AsyncIterator[Flow]:
    process = await asyncio.create_subprocess_exec(
        eve.node,
        str(SCRIPT),
        f"--homeserver={eve.homeserver.base_url}",
        f"--user={eve.user_id}",
        f"--password={eve.password}",
        f"--room={room}",
        f"--bot={opsbot.user_id}",
        f"--decide={decide}",
        f"--delay={delay}",
        "--timeout=150",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    try:
        yield Flow(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def opsbot_keys(opsbot: BotProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`opsbot keys ...` on the host, as the operator runs it."""
    command = [sys.executable, "-m", "bot.cli", "keys", *args, "--config", str(opsbot.config)]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, check=False
    )


async def waiting_for_operator(opsbot: BotProcess, user_id: str) -> tuple[str, str]:
    """The id and the emoji line `opsbot keys verifications` shows for `user_id`'s request."""
    for _ in range(100):
        out = (await opsbot_keys(opsbot, "verifications")).stdout
        found = re.search(rf"^(\d+): {re.escape(user_id)} .*\n   emoji: (.*)$", out, re.M)
        if found:
            return found[1], found[2]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no verification of {user_id} is listed:\n{out}")


def shown(sas: dict[str, Any]) -> str:
    """The emojis the person's client shows, written as `opsbot keys verifications` lists them."""
    return "  ".join(f"{symbol} {name}" for symbol, name in sas["emoji"])


def assert_unverified(end: dict[str, Any], code: str, by: str) -> None:
    assert end["phase"] == "Cancelled", end
    assert (end["cancellationCode"], end["cancellingUserId"]) == (code, by), end
    assert not end["botVerified"] and not end["botCrossSigningVerified"], end


@pytest.fixture
async def eve_in_a_room(
    node: str, homeserver: Any, alice: Person, opsbot: BotProcess
) -> tuple[ElementPerson, str]:
    """The bot started, and eve, on Element's crypto stack, in an encrypted room with it."""
    opsbot.start()
    eve = ElementPerson(homeserver, node)
    return eve, await shared_room(alice, opsbot, eve)


async def test_emojis_confirmed_on_the_host_make_element_trust_the_bot(
    eve_in_a_room: tuple[ElementPerson, str], alice: Person, opsbot: BotProcess
) -> None:
    eve, room = eve_in_a_room
    async with verifying(eve, room, opsbot, "match") as flow:
        sas = await flow.line("sas")
        number, listed = await waiting_for_operator(opsbot, eve.user_id)
        assert listed == shown(sas) and len(sas["emoji"]) == 7
        confirmed = await opsbot_keys(opsbot, "confirm", number)
        assert confirmed.returncode == 0, confirmed.stderr
        # The person's MAC vouched for their identity too: shown, for an admin's !trust.
        eve_master = key_public((await keys_of(alice, eve.user_id))["master_keys"][eve.user_id])
        assert eve_master is not None
        assert (
            f"verified: their client now trusts the bot; their master key {fingerprint(eve_master)}"
            in confirmed.stdout
        )
        end = await flow.line("end")
    assert end["phase"] == "Done" and end["error"] is None, end
    assert end["botVerified"] and end["botCrossSigningVerified"], end
    # Element signed the bot's master key with the person's user-signing key, on the homeserver
    # (which shows such a signature to its signer only).
    assert end["masterSignedByMe"], end
    assert (await master_of(alice, opsbot)) in (await opsbot_keys(opsbot)).stdout.replace(" ", "")
    opsbot.stop()


async def test_the_operator_confirming_first_completes_when_the_person_does(
    eve_in_a_room: tuple[ElementPerson, str], alice: Person, opsbot: BotProcess
) -> None:
    eve, room = eve_in_a_room
    async with verifying(eve, room, opsbot, "match", delay=4) as flow:
        await flow.line("sas")
        number, _ = await waiting_for_operator(opsbot, eve.user_id)
        confirmed = await opsbot_keys(opsbot, "confirm", number)
        assert confirmed.returncode == 0, confirmed.stderr
        end = await flow.line("end")
    assert end["phase"] == "Done" and end["botCrossSigningVerified"], end
    listing = (await opsbot_keys(opsbot, "verifications")).stdout
    assert f"{number}: {eve.user_id} (device " in listing and "verified: their client" in listing
    opsbot.stop()


async def test_emojis_rejected_on_the_host_cancel_and_leave_the_bot_unverified(
    eve_in_a_room: tuple[ElementPerson, str], alice: Person, opsbot: BotProcess
) -> None:
    eve, room = eve_in_a_room
    async with verifying(eve, room, opsbot, "match") as flow:
        await flow.line("sas")
        number, _ = await waiting_for_operator(opsbot, eve.user_id)
        rejected = await opsbot_keys(opsbot, "reject", number)
        assert rejected.returncode == 0, rejected.stderr
        assert "rejected by the operator" in rejected.stdout
        end = await flow.line("end")
    assert_unverified(end, "m.mismatched_sas", opsbot.user_id)
    opsbot.stop()


async def test_a_mismatch_seen_by_the_person_cancels_and_a_late_confirm_is_refused(
    eve_in_a_room: tuple[ElementPerson, str], alice: Person, opsbot: BotProcess
) -> None:
    eve, room = eve_in_a_room
    async with verifying(eve, room, opsbot, "mismatch") as flow:
        await flow.line("sas")
        end = await flow.line("end")
    assert_unverified(end, "m.mismatched_sas", eve.user_id)
    ended = rf"^(\d+): {re.escape(eve.user_id)} .*: cancelled by {re.escape(eve.user_id)}: "
    for _ in range(100):  # the bot reads the person's cancel in its next sync
        listing = (await opsbot_keys(opsbot, "verifications")).stdout
        if found := re.search(ended + r".*\(m\.mismatched_sas\)$", listing, re.M):
            break
        await asyncio.sleep(0.2)
    assert found, listing
    late = await opsbot_keys(opsbot, "confirm", found[1])
    assert late.returncode == 1
    assert f"verification {found[1]} is not waiting: cancelled by {eve.user_id}" in late.stderr
    opsbot.stop()


async def test_nobody_deciding_on_the_host_times_out_with_a_cancel(
    eve_in_a_room: tuple[ElementPerson, str], alice: Person, opsbot: BotProcess
) -> None:
    eve, room = eve_in_a_room
    async with verifying(eve, room, opsbot, "match") as flow:
        await flow.line("sas")
        number, _ = await waiting_for_operator(opsbot, eve.user_id)
        end = await flow.line("end", timeout=120)  # Element's and the bot's minute
    assert end["phase"] == "Cancelled" and end["cancellationCode"] == "m.timeout", end
    assert not end["botVerified"] and not end["botCrossSigningVerified"], end
    late = await opsbot_keys(opsbot, "confirm", number)
    assert late.returncode == 1 and "is not waiting" in late.stderr
    opsbot.stop()


async def test_a_request_made_before_the_bot_joined_the_new_dm_is_answered(
    node: str, homeserver: Any, alice: Person, opsbot: BotProcess
) -> None:
    """Element's "Verify" with no DM yet makes one, invites the bot and sends the request at
    once, before the bot has joined (here: while it is down). The bot joins (the person's role
    may invite it) and answers the request, though it came before its join."""
    eve = ElementPerson(homeserver, node)
    policy = git(opsbot.repo, "show", "main:policy.toml")
    may_invite = policy.replace(f'"{alice.user_id}"', f'"{alice.user_id}", "{eve.user_id}"')
    opsbot.configure({"policy.toml": may_invite}, "eve may invite the bot", alice.user_id)
    opsbot.start()  # its identity, on the homeserver for Element to find
    opsbot.stop()
    async with verifying(eve, "new", opsbot, "match") as flow:
        await flow.line("requested")
        opsbot.start()
        sas = await flow.line("sas")
        number, listed = await waiting_for_operator(opsbot, eve.user_id)
        assert listed == shown(sas)
        confirmed = await opsbot_keys(opsbot, "confirm", number)
        assert confirmed.returncode == 0, confirmed.stderr
        end = await flow.line("end")
    assert end["phase"] == "Done" and end["botCrossSigningVerified"], end
    opsbot.stop()
