"""`opsbot run` as systemd sees it: the real bot process against a real Synapse, with
NOTIFY_SOCKET pointing at a datagram socket this test reads, as systemd's would be."""

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.service import beside
from bot.state.repo import LOCK_FILE, Identity, StateRepo
from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess
from tests.helpers.paths import CHECKOUT

UNIT = CHECKOUT / "systemd" / "opsbot.service"
WATCHDOG_SECONDS = 2.0


def timeout_stop_sec() -> float:
    """TimeoutStopSec= of the unit we ship: how long systemd waits before it sends SIGKILL."""
    match = re.search(r"^TimeoutStopSec=(\d+)s$", UNIT.read_text(), re.MULTILINE)
    assert match, "the unit sets TimeoutStopSec= in seconds"
    return float(match.group(1))


@dataclass
class Notice:
    """One datagram the bot sent, and the log messages it had written when it arrived."""

    assignments: list[str]
    logged: list[str]


class Systemd:
    """The receiving end of the bot's notify socket, read in the background."""

    def __init__(self, bot: BotProcess) -> None:
        self.bot = bot
        self.address = f"@opsbot-test-{secrets.token_hex(6)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.address[1:])
        self.sock.settimeout(0.2)
        self.notices: list[Notice] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address, "WATCHDOG_USEC": str(int(WATCHDOG_SECONDS * 1e6))}

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            logged = [str(f.get("msg")) for f in self.bot.facts()]
            self.notices.append(Notice(data.split("\n"), logged))

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()

    def said(self) -> list[str]:
        """Every assignment received, in order, watchdog pings left out."""
        return [a for n in list(self.notices) for a in n.assignments if a != "WATCHDOG=1"]

    def statuses(self) -> list[str]:
        return [a.removeprefix("STATUS=") for a in self.said() if a.startswith("STATUS=")]

    def first(self, assignment: str) -> Notice | None:
        return next((n for n in list(self.notices) if assignment in n.assignments), None)

    async def until(self, assignment: str, timeout: float = 30) -> Notice:
        deadline = time.monotonic() + timeout
        while (notice := self.first(assignment)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {assignment} from the bot; it said {self.said()}")
            await asyncio.sleep(0.05)
        return notice


@pytest.fixture
def systemd(opsbot: BotProcess) -> Iterator[Systemd]:
    """The bot, started as systemd would start it, with the socket systemd would listen on."""
    listener = Systemd(opsbot)
    opsbot.start(env=listener.env())
    yield listener
    listener.close()


async def ops_room(alice: Person, opsbot: BotProcess) -> str:
    room = await alice.create_room(invite=[opsbot.user_id])
    await alice.until_joined(room, opsbot.user_id)
    return room


def sigterm(opsbot: BotProcess) -> None:
    assert opsbot.process is not None
    opsbot.process.send_signal(signal.SIGTERM)


def wait_for_exit(opsbot: BotProcess, within: float) -> tuple[int, float]:
    """The exit status, and how long after now it came; fails past `within` seconds."""
    assert opsbot.process is not None
    started = time.monotonic()
    code = opsbot.process.wait(timeout=within)
    return code, time.monotonic() - started


async def burst(alice: Person, room: str, count: int = 15) -> list[str]:
    return [await alice.send(room, f"!deploy web 3.0.{i} to dev") for i in range(count)]


async def sigterm_after_replies(alice: Person, opsbot: BotProcess, sent: list[str]) -> None:
    await alice.until(lambda: sum(bool(alice.replies_to(e)) for e in sent) >= 3, "3 replies")
    sigterm(opsbot)


def waiting_for_the_repo_lock(opsbot: BotProcess) -> bool:
    """Whether the bot is blocked on the repo's writer lock, as the kernel lists it."""
    assert opsbot.process is not None
    inode = os.stat(opsbot.repo / LOCK_FILE).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        blocked = "->" in fields and fields[-3].endswith(f":{inode}")
        if blocked and int(fields[-4]) == opsbot.process.pid:
            return True
    return False


def half_written(repo: Path) -> list[Path]:
    """Lock files Git's protocol leaves behind when a ref or object write is cut short."""
    return [p for p in repo.rglob("*.lock") if p.name != LOCK_FILE]


# starting


async def test_ready_is_sent_only_after_login_and_the_first_sync(systemd: Systemd) -> None:
    ready = await systemd.until("READY=1")
    assert "ready" in ready.logged
    assert "logged in" in ready.logged or "session restored" in ready.logged


async def test_the_bot_answers_a_command_right_after_ready(
    systemd: Systemd, alice: Person, opsbot: BotProcess
) -> None:
    await systemd.until("READY=1")
    room = await ops_room(alice, opsbot)
    event = await alice.send(room, "!status")
    assert (await alice.reply_to(event))["opsbot"]["ok"] is True


async def test_status_lines_say_what_the_bot_is_doing_while_it_starts(systemd: Systemd) -> None:
    await systemd.until("READY=1")
    statuses = systemd.statuses()
    assert statuses[:5] == [
        "checking the state repo",
        "logging in",
        "cross-signing",
        "syncing",
        "serving 0 rooms",
    ]


async def test_the_status_line_follows_the_rooms_the_bot_serves(
    systemd: Systemd, alice: Person, opsbot: BotProcess
) -> None:
    await systemd.until("READY=1")
    await ops_room(alice, opsbot)
    await systemd.until("STATUS=serving 1 room", timeout=beside.STATUS_SECONDS + 10)


async def test_the_watchdog_is_pinged_at_half_its_interval(systemd: Systemd) -> None:
    await systemd.until("READY=1")
    before = sum(n.assignments == ["WATCHDOG=1"] for n in systemd.notices)
    await asyncio.sleep(WATCHDOG_SECONDS * 2)
    pings = sum(n.assignments == ["WATCHDOG=1"] for n in systemd.notices) - before
    assert 3 <= pings <= 5  # one every WATCHDOG_SECONDS / 2


async def test_the_status_line_counts_the_problems_opsbot_check_lists(
    opsbot: BotProcess, alice: Person
) -> None:
    opsbot.edit_repo({"apps/broken.toml": "image = [unclosed\n"}, "a broken app", alice.user_id)
    listener = Systemd(opsbot)
    try:
        opsbot.start(env=listener.env())
        ready = await listener.until("READY=1")
        check = subprocess.run(
            [sys.executable, "-m", "bot.cli", "check", "--repo", str(opsbot.repo)],
            capture_output=True,
            text=True,
            check=False,
        )
        listed = len(check.stdout.splitlines())
        assert listed >= 1
        status = (
            f"STATUS=serving 0 rooms; {listed} problem(s) in the state repo, listed by opsbot check"
        )
        assert status in ready.assignments
    finally:
        listener.close()


async def test_a_state_repo_that_cannot_be_read_exits_1_and_is_never_ready(
    opsbot: BotProcess,
) -> None:
    shutil.rmtree(opsbot.repo / "objects")
    listener = Systemd(opsbot)
    try:
        with pytest.raises(RuntimeError, match="exited with 1"):
            opsbot.start(env=listener.env())
        assert "READY=1" not in listener.said()
        assert any(f.get("msg") == "cannot read the state repo" for f in opsbot.facts())
    finally:
        listener.close()


# stopping


async def test_sigterm_during_the_sync_long_poll_stops_at_once(
    systemd: Systemd, opsbot: BotProcess
) -> None:
    await systemd.until("READY=1")
    await asyncio.sleep(1)  # the bot is now waiting in a 30 s long-poll for something to happen
    sigterm(opsbot)
    code, took = wait_for_exit(opsbot, within=timeout_stop_sec())
    assert code == 0
    assert took < 5
    assert "STOPPING=1" in systemd.said()
    assert "stopping: no command in flight" in systemd.statuses()


async def test_sigterm_during_a_burst_exits_0_with_every_answered_command_committed(
    systemd: Systemd, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    sent = await burst(alice, room)
    await sigterm_after_replies(alice, opsbot, sent)
    code, took = wait_for_exit(opsbot, within=timeout_stop_sec())
    assert code == 0
    assert took < timeout_stop_sec() / 2
    await alice.sync()
    answered = {e for e in sent if alice.replies_to(e)}
    committed = {e for e in sent if opsbot.commits_for(e)}
    assert len(answered) >= 3
    assert answered == committed  # nothing committed and left unanswered by the stop
    assert all(len(opsbot.commits_for(e)) == 1 for e in committed)
    git(opsbot.repo, "fsck", "--full")
    assert half_written(opsbot.repo) == []
    assert "STOPPING=1" in systemd.said()


async def test_commands_left_waiting_at_the_stop_are_served_once_after_a_restart(
    systemd: Systemd, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    sent = await burst(alice, room)
    await sigterm_after_replies(alice, opsbot, sent)
    assert wait_for_exit(opsbot, within=timeout_stop_sec())[0] == 0
    opsbot.start(env=systemd.env())
    for event in sent:
        await alice.reply_to(event, timeout=60)
    await asyncio.sleep(1)
    await alice.sync()
    assert [len(alice.replies_to(e)) for e in sent] == [1] * len(sent)
    assert [len(opsbot.commits_for(e)) for e in sent] == [1] * len(sent)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux's /proc/locks")
async def test_a_command_in_flight_at_sigterm_is_committed_and_answered_before_the_exit(
    systemd: Systemd, alice: Person, opsbot: BotProcess
) -> None:
    room = await ops_room(alice, opsbot)
    other_writer = StateRepo(opsbot.repo, committer=Identity("Someone", "someone@x"), signer=None)
    with other_writer.locked():  # the command waits for this lock, in the middle of its work
        event = await alice.send(room, "!deploy web 4.0.0 to dev")
        await alice.until(lambda: waiting_for_the_repo_lock(opsbot), "the command to be running")
        sigterm(opsbot)
        await systemd.until("STATUS=stopping: finishing the command in flight")
        await asyncio.sleep(1)
        assert opsbot.process is not None and opsbot.process.poll() is None  # still finishing
    code, _ = wait_for_exit(opsbot, within=timeout_stop_sec())
    assert code == 0
    assert len(opsbot.commits_for(event)) == 1
    assert (await alice.reply_to(event))["opsbot"]["ok"] is True
