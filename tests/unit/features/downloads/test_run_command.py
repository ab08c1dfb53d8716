"""`!run` of a runbook of kind `download`, through the real engine and the real executor, with
real programs and the real HTTP listener: the progress bar in the edits, the file attached or
linked, the link offered while the program still writes and followed to the end, and each fault
(a checksum mismatch, the quota, a failed program) a clear reply and a recorded run."""

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.helpers.bot import ALICE, ROOM, Bot
from tests.helpers.git import git
from tests.helpers.host import Host

# Writes $1 bytes in $2 steps, a step every $3 seconds, reporting each; then exits with $4.
PROGRAM = """size=$1 steps=$2 pause=$3
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


def fetch_dump(extra: str = "") -> str:
    """The runbook fetch-dump, with `extra` lines of its declaration."""
    return RUNBOOK.replace("{extra}", extra)


def download_host(bot: Bot, tmp_path: Path, quota: int) -> Host:
    """A host with the program and the runbook fetch-dump, downloads of up to `quota` bytes and
    a homeserver that takes files of up to 100 kB."""
    made = Host(bot, tmp_path, downloads_quota=quota, upload_limit=100_000)
    made.program("fetch-dump", PROGRAM)
    made.runbook("fetch-dump", fetch_dump())
    return made


def ended(text: str) -> bool:
    return any(w in text for w in (" exit 0 in ", "failed", "stopped", "refused", "cancelled"))


@pytest.fixture
async def host(bot: Bot, tmp_path: Path) -> AsyncIterator[Host]:
    made = download_host(bot, tmp_path, quota=10_000_000)
    await made.listener.start()
    made.downloads.base_url = made.listener.url
    yield made
    await made.executor.stop()
    await made.listener.stop()
    made.executor.close()
    made.downloads.close()


async def test_a_small_download_is_attached_to_the_reply(host: Host) -> None:
    reply, event = host.say("!run fetch-dump size=5000 steps=5 pause=0.1")
    assert reply.ok, reply.text
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
    assert reply.ok, reply.text
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
    reply, event = host.say("!run fetch-dump size=3000000 steps=20 pause=0.3")
    assert reply.ok, reply.text
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
    reply, event = host.say("!run fetch-dump size=3000000 steps=10 pause=0.3 code=5")
    assert reply.ok, reply.text
    running = await host.until(event, lambda text: "fetch it now: http" in text)
    url = running.split("fetch it now: ")[1].split()[0]
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        fetching = asyncio.ensure_future(r.read())
        text = await host.until(event, ended)
        with pytest.raises(aiohttp.ClientPayloadError):
            await asyncio.wait_for(fetching, 20)
    assert "failed: exit 5" in text and "fetch it now" not in text


async def test_a_declared_checksum_that_does_not_match_fails_the_run(host: Host) -> None:
    host.runbook("fetch-dump", fetch_dump(f'sha256 = {{ "dump.bin" = "{"0" * 64}" }}'))
    reply, event = host.say("!run fetch-dump size=1000")
    assert reply.ok, reply.text
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
    host = download_host(bot, tmp_path, quota=200_000)
    reply, event = host.say("!run fetch-dump size=5000000 steps=50 pause=0.1")
    assert reply.ok, reply.text
    text = await host.until(event, ended)
    assert "stopped: it would need 4.8 MiB, and only 195.3 KiB of the 195.3 KiB" in text
    assert host.downloads.store.used() == 0
    await host.executor.step()
    assert 'status = "stopped"' in host.record(reply.extra["run"])
    host.executor.close()


async def test_a_download_when_the_quota_is_used_up_is_refused_before_it_runs(
    bot: Bot, tmp_path: Path
) -> None:
    host = download_host(bot, tmp_path, quota=1000)
    (host.downloads.store.open_run("earlier") / "big").write_bytes(b"x" * 1000)
    reply, event = host.say("!run fetch-dump size=10")
    assert reply.ok, reply.text
    text = await host.until(event, ended)
    assert "refused: the download quota is used up (1000 B of 1000 B in use)" in text
    host.executor.close()
