"""`!run` of a runbook of kind `download`, through the real engine and the real executor, with
real programs and the real HTTP listener: the progress bar in the edits, the file attached or
linked, the link offered while the program still writes and followed to the end, and each fault
(a checksum mismatch, the quota, a failed program) a clear reply and a recorded run."""

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.core.effects import Upload
from bot.engine.answers import answer_id
from bot.engine.services import Services
from bot.engine.types import Invocation, Reply
from bot.features.catalog import sections
from bot.features.downloads.host import Downloads
from bot.features.runbooks.executor import Executor
from bot.transport.http import HttpListener
from conftest import ALICE, Bot, git, http_listener

ROOM = "!ops:example.org"
# Writes $1 bytes in $2 steps, a step every $3 seconds, reporting each; then exits with $4.
PROGRAM = """#!/bin/sh
size=$1 steps=$2 pause=$3
out="$OPSBOT_DOWNLOAD_DIR/dump.bin"
echo "fetching dump.bin"
: > "$out"
i=0
while [ $i -lt $steps ]; do
  head -c $((size / steps)) /dev/zero | tr '\\0' 'x' >> "$out" || exit 3
  i=$((i + 1))
  echo "progress $((size / steps * i)) $size"
  sleep $pause
done
exit ${4:-0}
"""
RUNBOOK = """
summary = "fetch the dump"
kind = "download"
program = "fetch-dump"
args = ["{size}", "{steps}", "{pause}", "{code}"]
timeout_seconds = 60
{extra}
[params.size]
type = "integer"
min = 1
max = 100000000
[params.steps]
type = "integer"
min = 1
max = 100
default = "1"
[params.pause]
type = "enum"
values = ["0", "0.1", "0.3"]
default = "0"
[params.code]
type = "enum"
values = ["0", "5"]
default = "0"
"""


class Host:
    """The bot with a host config ([http] on a free port, [downloads]), the executor and the
    listener, stepped by the test."""

    def __init__(self, bot: Bot, tmp_path: Path, quota: int, upload_limit: int) -> None:
        self.bot = bot
        self.hooks = tmp_path / "hooks.d"
        self.hooks.mkdir()
        (self.hooks / "fetch-dump").write_text(PROGRAM)
        (self.hooks / "fetch-dump").chmod(0o755)
        host = tmp_path / "opsbot.toml"
        host.write_text(
            f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
            f'[http]\nlisten = "127.0.0.1:0"\n[downloads]\nquota_bytes = {quota}\n'
        )
        self.config = config.load(host, sections())
        self.downloads = Downloads.of(self.config)
        services = Services(bot.engine, self.config)
        services.media_limit = upload_limit
        self.executor = Executor(
            bot.engine.repo,
            bot.engine.ledger,
            services,
            self.hooks,
            bot.paths.state_dir,
            {},
            edit_every=0.2,
            downloads=self.downloads,
        )
        self.listener: HttpListener = http_listener(bot, self.config)
        self.seen: dict[str, list[str]] = {}

    def runbook(self, extra: str = "") -> None:
        self.bot.edit("runbooks/fetch-dump.toml", RUNBOOK.replace("{extra}", extra))

    def say(self, text: str) -> tuple[Reply, str]:
        event = f"${uuid.uuid4().hex}"
        invocation = Invocation(
            sender=ALICE,
            sender_name="Alice",
            text=text,
            event_id=event,
            received_at=self.bot.clock(),
            room_id=ROOM,
            room_name="#ops",
            transport="matrix",
            answer=True,
        )
        reply = self.bot.engine.run(invocation)
        assert reply is not None and reply.ok, reply
        return reply, event

    def answer(self, event: str) -> str:
        found = self.bot.engine.ledger.answer_by_identity(answer_id(event))
        assert found is not None
        return found[1].text

    async def until(self, event: str, done: Callable[[str], bool], timeout: float = 20) -> str:
        """Steps the executor until the reply to `event` satisfies `done`; every text the
        reply had on the way is kept in `seen`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.executor.step()
            text = self.answer(event)
            if not self.seen.setdefault(event, []) or self.seen[event][-1] != text:
                self.seen[event].append(text)
            if done(text):
                return text
            await asyncio.sleep(0.02)
        raise AssertionError(f"not yet: {self.answer(event)!r}")

    def uploads(self) -> list[Upload]:
        owed = self.bot.engine.ledger.due()
        return [o.effect for o in owed if isinstance(o.effect, Upload)]

    def record(self, run: str) -> str:
        month = self.bot.clock().strftime("%Y-%m")
        return git(self.bot.repo, "show", f"refs/opsbot/runs:runs/{month}/{run}.toml")


def ended(text: str) -> bool:
    return any(w in text for w in (" exit 0 in ", "failed", "stopped", "refused", "cancelled"))


@pytest.fixture
async def host(bot: Bot, tmp_path: Path) -> AsyncIterator[Host]:
    made = Host(bot, tmp_path, quota=10_000_000, upload_limit=100_000)
    made.runbook()
    await made.listener.start()
    made.downloads.base_url = made.listener.url
    yield made
    await made.executor.stop()
    await made.listener.stop()
    made.executor.close()
    made.downloads.close()


async def test_a_small_download_is_attached_to_the_reply(host: Host) -> None:
    reply, event = host.say("!run fetch-dump size=5000 steps=5 pause=0.1")
    text = await host.until(event, ended)
    run = reply.extra["run"]
    assert text.startswith(f"run {run}: fetch-dump size=5000 steps=5 pause=0.1 code=0: exit 0")
    assert "downloaded dump.bin (4.9 KiB), attached below" in text
    assert "progress " not in text  # the reports are read, not shown
    assert any("downloading: [" in seen and "% " in seen for seen in host.seen[event])
    [upload] = host.uploads()
    assert (upload.room, upload.name, upload.in_reply_to) == (ROOM, "dump.bin", event)
    assert Path(upload.path).read_bytes() == b"x" * 5000


async def test_a_large_download_is_linked_for_the_person_and_the_link_is_not_recorded(
    host: Host,
) -> None:
    reply, event = host.say("!run fetch-dump size=300000")
    text = await host.until(event, ended)
    url = text.split("downloaded dump.bin (293.0 KiB): ")[1].split()[0]
    assert f"for {ALICE} only" in text and host.uploads() == []
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200 and await r.read() == b"x" * 300_000
    await host.executor.step()
    token = url.split("/downloads/")[1].split("/")[0]
    everything = git(host.bot.repo, "log", "-p", "refs/opsbot/runs")
    assert 'status = "ok"' in host.record(reply.extra["run"]) and token not in everything


async def test_a_large_download_is_fetched_while_the_program_still_writes(host: Host) -> None:
    """The link is offered as soon as the total is known; the fetch follows the file and ends
    with the run."""
    _, event = host.say("!run fetch-dump size=3000000 steps=20 pause=0.3")
    running = await host.until(event, lambda text: "fetch it now: http" in text)
    assert "running" in running and "downloading: [" in running
    url = running.split("fetch it now: ")[1].split()[0]
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200 and r.headers["Content-Length"] == "3000000"
        assert "running" in host.answer(event)  # the response began before the run ended
        fetching = asyncio.ensure_future(r.read())
        text = await host.until(event, ended)
        body = await asyncio.wait_for(fetching, 20)
    assert body == b"x" * 3_000_000
    assert "exit 0" in text and url in text  # the same link, in the final reply


async def test_a_followed_fetch_is_cut_short_when_the_run_fails(host: Host) -> None:
    _, event = host.say("!run fetch-dump size=3000000 steps=10 pause=0.3 code=5")
    running = await host.until(event, lambda text: "fetch it now: http" in text)
    url = running.split("fetch it now: ")[1].split()[0]
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        fetching = asyncio.ensure_future(r.read())
        text = await host.until(event, ended)
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(fetching, 20)
    assert "failed: exit 5" in text and "fetch it now" not in text


async def test_a_declared_checksum_that_does_not_match_fails_the_run(host: Host) -> None:
    host.runbook(f'sha256 = {{ "dump.bin" = "{"0" * 64}" }}')
    reply, event = host.say("!run fetch-dump size=1000")
    text = await host.until(event, ended)
    run = reply.extra["run"]
    assert text.startswith(
        f"run {run}: fetch-dump size=1000 steps=1 pause=0 code=0: failed: "
        "checksum mismatch, nothing delivered"
    )
    assert f"dump.bin: sha256 {hashlib.sha256(b'x' * 1000).hexdigest()}, expected" in text
    assert host.uploads() == [] and not host.downloads.store.run_dir(run).exists()
    await host.executor.step()
    assert 'status = "failed"' in host.record(run)


async def test_a_download_announcing_more_than_the_quota_is_stopped(
    bot: Bot, tmp_path: Path
) -> None:
    host = Host(bot, tmp_path, quota=200_000, upload_limit=100_000)
    host.runbook()
    reply, event = host.say("!run fetch-dump size=5000000 steps=50 pause=0.1")
    text = await host.until(event, ended)
    assert "stopped: it would need 4.8 MiB, and only 195.3 KiB of the 195.3 KiB" in text
    assert host.downloads.store.used() == 0
    await host.executor.step()
    assert 'status = "stopped"' in host.record(reply.extra["run"])
    host.executor.close()


async def test_a_download_when_the_quota_is_used_up_is_refused_before_it_runs(
    bot: Bot, tmp_path: Path
) -> None:
    host = Host(bot, tmp_path, quota=1000, upload_limit=100_000)
    host.runbook()
    (host.downloads.store.open_run("earlier") / "big").write_bytes(b"x" * 1000)
    _, event = host.say("!run fetch-dump size=10")
    text = await host.until(event, ended)
    assert "refused: the download quota is used up (1000 B of 1000 B in use)" in text
    host.executor.close()
