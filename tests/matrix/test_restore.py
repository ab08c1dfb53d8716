"""Disaster recovery on the real homeserver, as the README says it: host A serves and is backed
up while it runs; A is lost; host B gets a clone of the repo and the backup, and is the same bot."""

import asyncio
import subprocess
import sys
from pathlib import Path

from bot.config import HostPaths
from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, check=False
    )


def devices(bot: BotProcess) -> list[str]:
    return [f["device"] for f in bot.facts() if f.get("msg") == "started"]


async def test_a_bot_restored_on_another_host_is_the_same_bot_and_answers_each_command_once(
    alice: Person, opsbot: BotProcess, tmp_path: Path
) -> None:
    a = opsbot
    a.start()
    room = await alice.create_room(invite=[a.user_id])
    await alice.until_joined(room, a.user_id)
    before = await alice.send(room, "!deploy web 1.4.2 to dev")
    answered = await alice.reply_to(before)
    assert answered["opsbot"]["ok"]

    backup = tmp_path / "backup"
    made = cli("backup", "--config", str(a.config), "--to", str(backup))  # A is running
    assert made.returncode == 0, made.stderr
    assert a.stop() == 0  # host A is lost

    b = tmp_path / "host-b"
    b.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(a.repo), str(b / "state.git")], check=True
    )
    config = b / "opsbot.toml"
    config.write_text(
        a.config.read_text()
        .replace(str(a.paths.state_dir), str(b / "state"))
        .replace(str(a.paths.repo), str(b / "state.git"))
    )
    restored = cli("restore", "--config", str(config), "--from", str(backup))
    assert restored.returncode == 0, restored.stderr
    checked = cli("check", "--config", str(config))
    assert checked.returncode == 0, checked.stdout

    # The same process harness, its config now host B's.
    a.config, a.paths = config, HostPaths(b / "state.git", b / "state")
    a.start()
    after = await alice.send(room, "!deploy web 1.4.3 to dev")
    reply = await alice.reply_to(after)
    assert reply["opsbot"]["ok"]

    first, second = devices(a)
    assert first == second  # the same Matrix device: no new login
    await asyncio.sleep(2)  # room for a second answer, were one coming
    assert len(alice.replies_to(before)) == 1
    assert len(alice.replies_to(after)) == 1
    history = git(b / "state.git", "log", "--format=%H", "main").split()
    assert history[0] == reply["opsbot"]["commit"]
    assert answered["opsbot"]["commit"] in history
    git(b / "state.git", "verify-commit", "main")
