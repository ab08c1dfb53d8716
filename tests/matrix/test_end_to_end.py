"""opsbot over Matrix, end to end: a real Synapse, real E2EE clients, the bot as a process."""

import asyncio
import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, person


@pytest.fixture
def opsbot(opsbot: BotProcess) -> BotProcess:
    opsbot.start()
    return opsbot


async def ops_room(alice: Person, opsbot: BotProcess) -> str:
    room = await alice.create_room(invite=[opsbot.user_id])
    await alice.until_joined(room, opsbot.user_id)
    return room


async def test_deploy_round_trip_over_e2ee_lands_in_git_log(
    alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, '!deploy web 1.4.2 to staging --reason "new login page"')
    reply = await alice.reply_to(event)
    assert reply["msgtype"] == "m.notice"
    assert reply["opsbot"]["ok"] is True
    assert reply["opsbot"]["commit"] == git(opsbot.repo, "rev-parse", "main").strip()
    assert reply["body"].startswith("deploy: web 1.4.2 to staging · commit ")
    assert reply["format"] == "org.matrix.custom.html"
    message = git(opsbot.repo, "log", "-1", "--format=%B")
    assert f"Matrix-Room: {room}\nMatrix-Event: {event}\n" in message
    assert "Requested by Alice in ops." in message
    assert git(opsbot.repo, "log", "-1", "--format=%ae").strip() == alice.user_id


async def test_the_reply_travels_encrypted_and_replies_to_the_command(
    homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!status")
    await alice.reply_to(event)
    reply_id = alice.replies_to(event)[0]["event_id"]
    raw = raw_event(homeserver, alice, room, reply_id)
    assert raw["type"] == "m.room.encrypted"  # what the homeserver holds is ciphertext
    assert raw["sender"] == opsbot.user_id


def raw_event(homeserver: Homeserver, someone: Person, room: str, event_id: str) -> dict[str, Any]:
    url = f"{homeserver.base_url}/_matrix/client/v3/rooms/{room}/event/{event_id}"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {someone.client.access_token}"}
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


async def test_user_text_is_escaped_in_the_html_reply(alice: Person, opsbot: BotProcess) -> None:
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!deploy <b>web</b> 1.0 to dev")
    reply = await alice.reply_to(event)
    assert reply["opsbot"]["ok"] is False
    assert "<b>" not in reply["formatted_body"]
    assert "&lt;b&gt;web&lt;/b&gt;" in reply["formatted_body"]


async def test_a_person_without_a_role_is_refused_and_nothing_is_written(
    homeserver: Homeserver, tmp_path: Path, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    bob = await person(homeserver, tmp_path / "people", "bob")
    try:
        await alice.client.room_invite(room, bob.user_id)
        await bob.until(lambda: room in bob.client.invited_rooms, "the invite")
        await bob.client.join(room)
        await bob.until_joined(room, bob.user_id)
        await alice.until_joined(room, bob.user_id)
        head = git(opsbot.repo, "rev-parse", "main")
        event = await bob.send(room, "!deploy web 1.4.2 to prod")
        reply = await bob.reply_to(event)
        assert reply["opsbot"] == {
            "ok": False,
            "command": "deploy",
            "commit": None,
            "error": "forbidden",
        }
        assert reply["body"].startswith(f"refused: {bob.user_id} may not run !deploy")
        assert git(opsbot.repo, "rev-parse", "main") == head
    finally:
        await bob.close()


async def test_an_invite_from_a_stranger_is_declined(
    homeserver: Homeserver, tmp_path: Path, opsbot: BotProcess
) -> None:
    mallory = await person(homeserver, tmp_path / "people", "mallory")
    try:
        room = await mallory.create_room(invite=[opsbot.user_id])
        await mallory.until(
            lambda: any(
                f.get("msg") == "declined invite" and f.get("room") == room for f in opsbot.facts()
            ),
            "the bot to decline",
        )
        await mallory.sync()
        assert opsbot.user_id not in mallory.client.rooms[room].users
        assert opsbot.user_id not in mallory.client.rooms[room].invited_users
    finally:
        await mallory.close()


async def test_a_restart_re_executes_nothing(alice: Person, opsbot: BotProcess) -> None:
    room = await ops_room(alice, opsbot)
    first = await alice.send(room, "!deploy web 1.0.0 to dev")
    await alice.reply_to(first)
    status = await alice.send(room, "!status")
    await alice.reply_to(status)
    assert opsbot.stop() == 0
    opsbot.start()
    barrier = await alice.send(room, "!deploy web 1.1.0 to dev")
    await alice.reply_to(barrier)
    await alice.sync()
    assert len(alice.replies_to(first)) == 1
    assert len(alice.replies_to(status)) == 1
    assert len(opsbot.commits_for(first)) == 1


async def test_sigkill_while_commands_arrive_loses_and_doubles_nothing(
    alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    sent = []
    for i in range(12):
        sent.append(await alice.send(room, f"!deploy web 2.0.{i} to dev"))
        if i == 5:
            opsbot.kill()
    opsbot.start()
    for event in sent:
        await alice.reply_to(event, timeout=60)
    await asyncio.sleep(1)
    await alice.sync()
    for event in sent:
        assert len(alice.replies_to(event)) == 1, (
            f"{event} answered {len(alice.replies_to(event))} times"
        )
        assert len(opsbot.commits_for(event)) == 1, (
            f"{event} committed {len(opsbot.commits_for(event))} times"
        )
    git(opsbot.repo, "fsck", "--full")


async def test_the_bot_rides_out_a_homeserver_restart(
    homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    homeserver.stop()
    await asyncio.sleep(3)  # long enough for the bot's sync to fail and back off
    homeserver.start()
    event = await alice.send(room, "!deploy api 3.0.0 to dev")
    reply = await alice.reply_to(event, timeout=60)
    assert reply["opsbot"]["ok"] is True
    assert any(f.get("msg") == "homeserver unavailable, retrying" for f in opsbot.facts())


async def test_an_undecryptable_message_gets_one_reply_not_silence(
    homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    content = {
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnACgAkLmt6qF84IK++J7UDH2Za1YVchHyprqTqsg",
        "sender_key": "SOMEKEYSOMEKEYSOMEKEYSOMEKEYSOMEKEYSOMEKE",
        "session_id": "SESSIONIDSESSIONIDSESSIONIDSESSIONIDSESSI",
        "device_id": alice.client.device_id,
    }
    url = (
        f"{homeserver.base_url}/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/undecryptable1"
    )
    request = urllib.request.Request(
        url,
        data=json.dumps(content).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {alice.client.access_token}"},
    )
    with urllib.request.urlopen(request) as response:
        event = json.loads(response.read())["event_id"]
    reply = await alice.reply_to(event)
    assert "could not read your message" in reply["body"]
    barrier = await alice.send(room, "!status")
    await alice.reply_to(barrier)
    assert len(alice.replies_to(event)) == 1


async def test_commands_sent_before_the_bot_joined_are_not_executed(
    alice: Person, opsbot: BotProcess
) -> None:
    room = await alice.create_room(invite=[])
    old = await alice.send(room, "!deploy web 9.9.9 to dev")
    await alice.client.room_invite(room, opsbot.user_id)
    await alice.until_joined(room, opsbot.user_id)
    barrier = await alice.send(room, "!status")
    await alice.reply_to(barrier)
    assert alice.replies_to(old) == []
    assert opsbot.commits_for(old) == []


async def test_a_revoked_token_stops_the_bot_with_a_clear_message(
    homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    token = json.loads((opsbot.paths.state_dir / "matrix" / "credentials.json").read_text())
    request = urllib.request.Request(
        f"{homeserver.base_url}/_matrix/client/v3/logout",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    urllib.request.urlopen(request).close()
    assert opsbot.process is not None
    assert opsbot.process.wait(timeout=60) == 1
    assert any(
        f.get("msg") == "stopping: cannot go on" and "access token" in f.get("error", "")
        for f in opsbot.facts()
    )
    assert token["access_token"] not in opsbot.log.read_text()


async def test_the_bot_keeps_its_device_across_restarts(opsbot: BotProcess) -> None:
    credentials = opsbot.paths.state_dir / "matrix" / "credentials.json"
    device = json.loads(credentials.read_text())["device_id"]
    opsbot.stop()
    opsbot.start()
    assert json.loads(credentials.read_text())["device_id"] == device
    assert any(f.get("msg") == "session restored" for f in opsbot.facts())


async def test_a_lost_crypto_store_means_a_new_device_not_a_reused_one(
    alice: Person, opsbot: BotProcess
) -> None:
    credentials = opsbot.paths.state_dir / "matrix" / "credentials.json"
    device = json.loads(credentials.read_text())["device_id"]
    opsbot.stop()
    shutil.rmtree(opsbot.paths.state_dir / "matrix" / "crypto")
    opsbot.start()
    assert json.loads(credentials.read_text())["device_id"] != device
    assert any(f.get("msg", "").startswith("crypto store is missing") for f in opsbot.facts())
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!status")
    assert (await alice.reply_to(event))["opsbot"]["ok"] is True


async def test_the_approval_flow_between_two_people_over_matrix(
    homeserver: Homeserver, tmp_path: Path, alice: Person, opsbot: BotProcess
) -> None:
    bob = await person(homeserver, tmp_path / "people", "bob")
    try:
        policy = git(opsbot.repo, "show", "main:policy.toml").replace(
            "[roles.approver]\nmembers = []", f'[roles.approver]\nmembers = ["{bob.user_id}"]'
        )
        room = await ops_room(alice, opsbot)
        # The policy is data in Git: change it as a person would, with a commit pushed to it.
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(opsbot.repo), str(clone)], check=True)
        (clone / "policy.toml").write_text(policy)
        (clone / "environments" / "prod.toml").write_text("order = 3\napprovals = 1\n")
        who = ["-c", "user.name=Alice", "-c", f"user.email={alice.user_id}"]
        git(clone, *who, "commit", "-qam", "bob approves; prod needs approval")
        git(clone, "push", "-q", "origin", "HEAD:main")
        pushed = git(clone, "rev-parse", "HEAD").strip()
        # Unsigned, so not in force until an admin has looked at it and adopts it.
        adopted = await alice.send(room, f"!adopt {pushed[:7]}")
        assert (await alice.reply_to(adopted))["opsbot"]["ok"] is True
        await alice.client.room_invite(room, bob.user_id)
        await bob.until(lambda: room in bob.client.invited_rooms, "the invite")
        await bob.client.join(room)
        await bob.until_joined(room, bob.user_id)
        await alice.until_joined(room, bob.user_id)
        asked = await alice.send(room, "!deploy web 2.0.0 to prod")
        proposal = await alice.reply_to(asked)
        assert proposal["body"].startswith("proposal 1: deploy: web 2.0.0 to prod")
        assert "Approved-by" not in git(opsbot.repo, "log", "-1", "--format=%B", "main")
        approved = await bob.send(room, "!approve 1")
        reply = await bob.reply_to(approved)
        assert reply["opsbot"]["ok"] is True, reply["body"]
        message = git(opsbot.repo, "log", "-1", "--format=%B", "main")
        assert f"Approved-by: {bob.user_id}" in message
        assert f"Matrix-Event: {approved}" in message
    finally:
        await bob.close()


async def test_a_command_buried_under_a_busy_room_while_the_bot_was_down_is_still_answered(
    alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    opsbot.stop()
    buried = await alice.send(room, "!deploy web 7.0.0 to dev")
    for i in range(510):  # more than one sync returns: the timeline comes back "limited"
        await alice.send(room, f"chatter {i}")
    opsbot.start()
    reply = await alice.reply_to(buried, timeout=90)
    assert reply["opsbot"]["ok"] is True
    assert len(opsbot.commits_for(buried)) == 1
    assert any(f.get("msg") == "timeline gap filled" for f in opsbot.facts())


async def test_a_person_sending_too_many_commands_is_told_to_slow_down(
    homeserver: Homeserver, tmp_path: Path, alice: Person
) -> None:
    bot = BotProcess(homeserver, tmp_path / "limited", [alice.user_id], "commands_per_minute = 2\n")
    bot.start()
    try:
        room = await ops_room(alice, bot)
        sent = [await alice.send(room, f"!deploy web 4.0.{i} to dev") for i in range(3)]
        replies = [await alice.reply_to(event) for event in sent]
        # 2 a minute, in bursts of 1: the first goes through, the next two are refused.
        assert [r["opsbot"]["ok"] for r in replies] == [True, False, False]
        assert replies[1]["body"].startswith("refused: too many commands from you; try again in ")
        assert [len(bot.commits_for(event)) for event in sent] == [1, 0, 0]
    finally:
        bot.stop()


async def test_the_bot_honours_429_from_the_homeserver_and_answers_everything_once(
    homeserver: Homeserver, tmp_path: Path, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    # An admin makes the homeserver rate-limit the bot's own messages hard.
    admin = await person(homeserver, tmp_path / "people", "admin", admin=True)
    try:
        url = f"{homeserver.base_url}/_synapse/admin/v1/users/{opsbot.user_id}/override_ratelimit"
        limit = json.dumps({"messages_per_second": 1, "burst_count": 1}).encode()
        token = {"Authorization": f"Bearer {admin.client.access_token}"}
        urllib.request.urlopen(urllib.request.Request(url, limit, token, method="POST")).close()
        sent = [await alice.send(room, f"!deploy web 5.0.{i} to dev") for i in range(4)]
        for event in sent:
            await alice.reply_to(event, timeout=60)
        await alice.sync()
        assert [len(alice.replies_to(event)) for event in sent] == [1, 1, 1, 1]
        # It was limited, waited as told, and went on: nio's own words, in the bot's log.
        assert "Got 429 response (ratelimited)" in opsbot.log.read_text()
    finally:
        await admin.close()
