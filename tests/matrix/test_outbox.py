"""The outbox over a real Synapse: what a command, an alert or the reconciler owes reaches the
room once, whatever happens between the commit and the send. Counted with a second client, from
the room's history, never from the bot's own log."""

import asyncio
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from nio import RoomCreateResponse

from bot.core.effects import CreateRoom
from bot.service.assemble import open_ledger
from bot.transport.matrix.rooms import ENCRYPTION, room_key_state
from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, edits_of, join, ops_room

TOKEN = "alertmanager-token"
RULES = '[[rule]]\nmatch = { severity = "critical" }\nincident_severity = "sev1"\n'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_alerts(opsbot: BotProcess, room: str) -> str:
    """Turns on the HTTP listener and Alertmanager's route, notices to `room`; its URL."""
    port = free_port()
    token = opsbot.root / "am.token"
    token.write_text(TOKEN)
    opsbot.config.write_text(
        opsbot.config.read_text()
        + f'[http]\nlisten = "127.0.0.1:{port}"\n'
        + f'[alerts]\nroom = "{room}"\ntoken_file = "{token}"\n'
    )
    return f"http://127.0.0.1:{port}/alertmanager"


def disk_full() -> dict[str, object]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": "firing",
        "groupLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {"summary": "disk 95% full on db1"},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "severity": "critical"},
                "annotations": {"summary": "disk 95% full on db1"},
                "fingerprint": "e94c744ae3d44df8",
                "startsAt": "2026-11-26T11:58:00Z",
            }
        ],
    }


async def alert(url: str) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=disk_full(), headers={"Authorization": f"Bearer {TOKEN}"}) as r,
    ):
        return r.status


async def test_an_alert_opened_incident_gets_its_room_invites_and_real_mentions(
    alice: Person, bob: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    opsbot.stop()
    policy = git(opsbot.repo, "show", "main:policy.toml")
    policy += f'\n[incidents.notify]\nsev1 = ["{bob.user_id}"]\n[rooms]\nannounce = ["{room}"]\n'
    opsbot.configure(
        {"policy.toml": policy, "alerts/rules.toml": RULES}, "bob is on call", alice.user_id
    )
    url = with_alerts(opsbot, room)
    opsbot.start()

    assert await alert(url) == 200

    await join(bob, room_of_incident := await invited(bob))
    assert room_of_incident != room
    await alice.until(
        lambda: room_of_incident in git(opsbot.repo, "show", "main:incidents/INC-1/incident.toml"),
        "the room recorded in Git",
    )

    def announced() -> list[dict[str, Any]]:
        return [
            s["content"]
            for r, s in alice.events
            if r == room and s["content"].get("body", "").startswith("INC-1 (sev1) opened by")
        ]

    await alice.until(lambda: bool(announced()), "the announcement")
    assert len(announced()) == 1
    assert announced()[0]["m.mentions"] == {"user_ids": [bob.user_id]}


async def invited(someone: Person) -> str:
    await someone.until(lambda: bool(someone.client.invited_rooms), "an invite", timeout=60)
    return str(next(iter(someone.client.invited_rooms)))


@pytest.mark.slow
async def test_a_kill_between_commit_and_answer_loses_no_answer_and_doubles_none(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    luck = random.Random(20261201)
    sent = []
    for n in range(20):
        event = await alice.send(room, f"!deploy web 1.0.{n} to dev")
        sent.append(event)
        await asyncio.sleep(luck.uniform(0.0, 0.6))  # somewhere in commit, owe, send
        opsbot.kill()
        opsbot.start()
    for event in sent:
        await alice.reply_to(event, timeout=60)
    await asyncio.sleep(2)  # anything sent twice would have arrived by now
    await alice.sync()
    assert [len(alice.replies_to(e)) for e in sent] == [1] * len(sent)
    answers = [alice.replies_to(e)[0]["content"] for e in sent]
    assert [a["opsbot"]["ok"] for a in answers] == [True] * len(sent), [a["body"] for a in answers]
    assert [len(opsbot.commits_for(e)) for e in sent] == [1] * len(sent)


async def test_the_deploy_hook_starts_once_the_answer_is_in_the_room(
    alice: Person, opsbot: BotProcess
) -> None:
    started = opsbot.root / "hook-started"
    # Written aside and moved into place: the test never reads a half-written time.
    opsbot.hook("deploy-web", f'date +%s%3N > "{started}.new"; mv "{started}.new" "{started}"\n')
    opsbot.start()
    room = await ops_room(alice, opsbot)
    for n in range(5):
        event = await alice.send(room, f"!deploy web 3.0.{n} to dev")
        await alice.reply_to(event)
        answer = alice.replies_to(event)[0]
        await alice.until(lambda: started.exists(), "the hook to run", timeout=30)
        # Both clocks are this host's: the homeserver stamped the answer, the hook its start.
        assert int(started.read_text()) >= answer["origin_server_ts"]
        started.unlink()


async def test_a_result_reported_right_after_a_restart_edits_the_answer(
    alice: Person, opsbot: BotProcess
) -> None:
    opsbot.hook("deploy-web", 'sleep 2; echo "rolled out $3"\n')
    opsbot.start()
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!deploy web 2.0.0 to dev")
    answer = await alice.reply_to(event)
    assert answer["body"].endswith("deploying…"), answer["body"]
    opsbot.kill()  # the hook's run is cut short: the next start runs it again, and reports
    opsbot.start()
    reply_id = alice.replies_to(event)[0]["event_id"]

    def edited() -> bool:
        return any("applied" in e["m.new_content"]["body"] for e in edits_of(alice, reply_id))

    await alice.until(edited, "the answer edited with the result", timeout=60)
    assert len(alice.replies_to(event)) == 1


async def test_what_is_owed_while_the_homeserver_is_down_arrives_in_order_once_it_is_back(
    homeserver: Homeserver, alice: Person, opsbot: BotProcess
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    policy = git(opsbot.repo, "show", "main:policy.toml") + f'\n[rooms]\nannounce = ["{room}"]\n'
    opsbot.configure({"policy.toml": policy}, "announce in the ops room", alice.user_id)
    await alice.reply_to(await alice.send(room, "!whoami"))  # the bot knows the room by now
    homeserver.stop()
    # The console, on the bot's own host, while Matrix is away: three sev1 incidents, each
    # owing its announcement to the room.
    titles = ["Payments down", "Search down", "Login down"]
    shell = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "shell",
            "--repo",
            str(opsbot.repo),
            "--state-dir",
            str(opsbot.paths.state_dir),
            "--as",
            alice.user_id,
        ],
        input="".join(f"!incident open sev1 {title}\n" for title in titles),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    await asyncio.sleep(3)  # the deliverer meets the homeserver away, and waits
    homeserver.start()

    def announced() -> list[str]:
        return [
            s["content"]["body"]
            for r, s in alice.events
            if r == room and "(sev1) declared by" in s.get("content", {}).get("body", "")
        ]

    await alice.until(lambda: len(announced()) >= len(titles), "the announcements", timeout=120)
    await asyncio.sleep(2)  # a second copy of any of them would have arrived by now
    await alice.sync()
    assert [body.split(": ", 1)[1].split("\n")[0] for body in announced()] == titles


async def test_a_room_made_just_before_a_crash_is_found_and_not_made_twice(
    alice: Person, opsbot: BotProcess, homeserver: Homeserver, tmp_path: Path
) -> None:
    opsbot.start()
    room = await ops_room(alice, opsbot)
    opsbot.kill()
    # What a kill between the homeserver making the room and the outbox recording it leaves:
    # a room of the bot's, saying which effect made it, that the outbox does not know of.
    crashed = Person(
        homeserver.base_url,
        opsbot.user_id,
        (opsbot.root / "password").read_text(),
        tmp_path / "crashed",
    )
    await crashed.login()
    made = await crashed.client.room_create(
        name="INC-9",
        invite=[alice.user_id],
        initial_state=[ENCRYPTION, room_key_state("incident:INC-9")],
    )
    assert isinstance(made, RoomCreateResponse)
    await crashed.close()
    ledger = open_ledger(opsbot.paths)
    ledger.enqueue(
        [
            (
                "room:incident:INC-9",
                CreateRoom(
                    "incident:INC-9",
                    "INC-9",
                    "a test incident",
                    invite=(alice.user_id,),
                    link_in=room,
                    link_text="INC-9 has its room",
                ),
            )
        ]
    )
    ledger.close()

    opsbot.start()

    def link() -> list[str]:
        return [
            s["content"]["body"]
            for r, s in alice.events
            if r == room and s["content"].get("body", "").startswith("INC-9 has its room")
        ]

    await alice.until(lambda: bool(link()), "the link to the incident's room")
    assert link() == [f"INC-9 has its room: https://matrix.to/#/{made.room_id}"]
    assert set(alice.client.invited_rooms) == {made.room_id}  # and to no second room
