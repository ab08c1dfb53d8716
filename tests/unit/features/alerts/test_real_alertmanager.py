"""With a real Prometheus Alertmanager on 127.0.0.1: alerts pushed into it with its v2 API reach
opsbot through its webhook receiver, grouped as its route groups them. A critical alert opens an
incident (rules in the state repo's alerts/rules.toml), more of the group and their resolution
go to that incident's timeline, and each group is one notice in the alerts room. The incident
files are read back with `git`."""

import asyncio
import shutil
import socket
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import config
from bot.features.catalog import sections
from bot.features.incidents.timeline import plain_line
from bot.features.incidents.timeline import read as read_timeline
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot
from tests.helpers.git import git
from tests.helpers.http import http_listener, owed_notices

BINARY = shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="no alertmanager binary on PATH (Debian: apt-get install prometheus-alertmanager)",
)

ALERTS_ROOM = "!alerts:example.org"
TOKEN = "alertmanager-token"
GROUP = '{}:{alertname="DiskFull"}'


@dataclass
class Rooms:
    """What the route owes the rooms, read from the outbox: (room, text), in order."""

    bot: Bot

    @property
    def posted(self) -> list[tuple[str, str]]:
        return owed_notices(self.bot, "alertmanager")


@pytest.fixture
async def listener(bot: Bot, tmp_path: Path) -> AsyncIterator[tuple[HttpListener, Rooms]]:
    (tmp_path / "am.token").write_text(TOKEN)
    host_config = tmp_path / "opsbot.toml"
    host_config.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        f'[http]\nlisten = "127.0.0.1:0"\n'
        f'[alerts]\nroom = "{ALERTS_ROOM}"\ntoken_file = "{tmp_path / "am.token"}"\n'
    )
    rooms = Rooms(bot)
    served = http_listener(bot, config.load(host_config, sections()))
    await served.start()
    yield served, rooms
    await served.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def alertmanager(tmp_path: Path, listener: tuple[HttpListener, Rooms]) -> Iterator[str]:
    """A real Alertmanager whose only receiver is opsbot's webhook, with its bearer token;
    groups are sent after 1 s and then each second they change."""
    served, _ = listener
    port = free_port()
    (tmp_path / "alertmanager.yml").write_text(
        f"""
route:
  receiver: opsbot
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsbot
    webhook_configs:
      - url: "{served.url}/alertmanager"
        send_resolved: true
        http_config:
          authorization:
            credentials_file: "{tmp_path / "am.token"}"
"""
    )
    assert BINARY is not None
    log = (tmp_path / "alertmanager.log").open("w")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single instance
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


async def push(alertmanager: str, *alerts: dict[str, Any]) -> None:
    """Alerts into Alertmanager through its v2 API, as Prometheus sends them."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{alertmanager}/api/v2/alerts", json=list(alerts)) as response,
    ):
        assert response.status == 200, await response.text()


def disk_full(instance: str, resolved: bool = False) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": instance},
        "annotations": {"summary": f"disk of {instance} 95% full"},
    }
    if resolved:
        alert["endsAt"] = datetime.now(UTC).isoformat()
    return alert


async def eventually(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def timeline(bot: Bot) -> str:
    entries = read_timeline(bot.engine.view(), "INC-1").entries
    return "\n".join(plain_line(e) for e in entries)


async def test_a_critical_alert_opens_an_incident_and_its_group_s_life_is_its_timeline(
    bot: Bot, listener: tuple[HttpListener, Rooms], alertmanager: str
) -> None:
    _, rooms = listener

    await push(alertmanager, disk_full("db1"))
    await eventually(lambda: "alert firing: DiskFull" in timeline(bot), "the incident")
    await eventually(lambda: bool(rooms.posted), "its notice")  # posted after the commit

    record = tomllib.loads(git(bot.repo, "show", "main:incidents/INC-1/incident.toml"))
    assert (record["severity"], record["status"]) == ("sev2", "investigating")
    assert record["alert_group"] == GROUP
    assert record["title"] == "disk of db1 95% full"
    assert rooms.posted[0] == (
        ALERTS_ROOM,
        "[FIRING:1] alertname=DiskFull\n"
        "- firing: DiskFull {instance=db1, severity=critical}: disk of db1 95% full\n"
        "INC-1 (sev2) opened for these alerts",
    )

    await push(alertmanager, disk_full("db1"), disk_full("db2"))  # still firing, and one more
    await eventually(lambda: "{instance=db2" in timeline(bot), "the second alert")
    await push(alertmanager, disk_full("db1", resolved=True), disk_full("db2", resolved=True))
    await eventually(lambda: timeline(bot).count("alert resolved") == 2, "the resolutions")
    await eventually(lambda: "every alert of INC-1 is resolved" in rooms.posted[-1][1], "notice")

    events = [line.split(" · ")[2].split(" [")[0] for line in timeline(bot).splitlines()]
    assert events[:3] == [
        "opened INC-1 (sev2) from alerts: disk of db1 95% full",
        "alert firing: DiskFull {instance=db1, severity=critical}: disk of db1 95% full",
        "alert firing: DiskFull {instance=db2, severity=critical}: disk of db2 95% full",
    ]
    assert sorted(events[3:]) == [  # in one notice or two: Alertmanager's choice
        "alert resolved: DiskFull {instance=db1, severity=critical}: disk of db1 95% full",
        "alert resolved: DiskFull {instance=db2, severity=critical}: disk of db2 95% full",
    ]
    subjects = git(bot.repo, "log", "--format=%s", "--grep", "^Incident: INC-1$").splitlines()
    assert subjects[-1] == "incident alert: INC-1 (sev2) from alerts: disk of db1 95% full"
    assert all(s.startswith("incident alert: INC-1 alerts, ") for s in subjects[:-1])
    assert git(bot.repo, "log", "-1", "--format=%(trailers:key=Severity,valueonly)").strip() == (
        "sev2"
    )
    git(bot.repo, "verify-commit", "main")
    notices = [text for room, text in rooms.posted if room == ALERTS_ROOM]
    assert notices[-1].startswith("[RESOLVED] alertname=DiskFull\n")
    assert notices[-1].endswith(
        "every alert of INC-1 is resolved; !incident resolve INC-1 once it is over"
    )


async def test_an_alert_no_rule_matches_is_only_a_notice(
    bot: Bot, listener: tuple[HttpListener, Rooms], alertmanager: str
) -> None:
    _, rooms = listener
    head = bot.head()

    await push(
        alertmanager,
        {
            "labels": {"alertname": "HighLatency", "severity": "warning"},
            "annotations": {"summary": "p99 above 2s"},
        },
    )
    await eventually(lambda: bool(rooms.posted), "the notice")

    assert rooms.posted == [
        (
            ALERTS_ROOM,
            "[FIRING:1] alertname=HighLatency\n"
            "- firing: HighLatency {severity=warning}: p99 above 2s",
        ),
    ]
    assert bot.head() == head
