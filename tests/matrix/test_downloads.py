"""Download runbooks over a real Synapse and the bot's own HTTP listener: a small download
arrives as an encrypted file a second person's client decrypts to the same bytes; a file past
the homeserver's upload limit (Synapse's own, 50 MB by default) is offered as a link that
another address cannot use once the person has started, that `curl` fetches whole, and that is
spent by that fetch."""

import asyncio
import hashlib
import os
from pathlib import Path

import aiohttp

from devtools.devclient import Person
from tests.helpers.git import git
from tests.helpers.matrix import BotProcess, edits_of, files_in, ops_room

RUNBOOK = 'summary = "fetch"\nkind = "download"\nprogram = "fetch"\ntimeout_seconds = 120\n'
# Copies the payload the test made into the run's directory, as a fetch would, reporting it.
FETCH = """size=$(stat -c %s {payload})
echo "progress 0 $size"
cat {payload} > "$OPSBOT_DOWNLOAD_DIR/{name}" || exit 3
echo "progress $size $size"
"""


def with_downloads(opsbot: BotProcess, payload: Path, name: str) -> None:
    opsbot.hook("fetch", FETCH.format(payload=payload, name=name))
    with opsbot.config.open("a") as config:
        config.write('[http]\nlisten = "127.0.0.1:0"\n[downloads]\nsingle_use = true\n')
    opsbot.configure({"runbooks/fetch.toml": RUNBOOK}, "a download runbook", "@alice:test")


async def final_edit(alice: Person, room: str, command: str) -> str:
    event = await alice.send(room, command)
    await alice.reply_to(event)
    reply_id = alice.replies_to(event)[0]["event_id"]

    def bodies() -> list[str]:
        return [e["m.new_content"]["body"] for e in edits_of(alice, reply_id)]

    await alice.until(lambda: any(" exit 0 " in b for b in bodies()), "the run's end", timeout=90)
    return next(b for b in bodies() if " exit 0 " in b)


async def test_a_small_download_arrives_encrypted_and_another_person_decrypts_it(
    alice: Person, bob: Person, opsbot: BotProcess, tmp_path: Path
) -> None:
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(400_000))
    with_downloads(opsbot, payload, "dump.bin")
    opsbot.start()
    room = await ops_room(alice, opsbot, bob)

    text = await final_edit(alice, room, "!run fetch")
    assert "downloaded dump.bin (390.6 KiB), attached below" in text

    await bob.until(lambda: bool(files_in(bob, room)), "the file", timeout=60)
    [content] = files_in(bob, room)
    assert "url" not in content and content["filename"] == "dump.bin"  # encrypted: `file`
    assert await bob.download(content) == payload.read_bytes()


async def test_a_download_past_the_upload_limit_is_a_link_only_the_person_can_use(
    alice: Person, opsbot: BotProcess, tmp_path: Path
) -> None:
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(60 * 1024 * 1024))  # past Synapse's max_upload_size, 50M
    with_downloads(opsbot, payload, "big.bin")
    opsbot.start()
    room = await ops_room(alice, opsbot)

    text = await final_edit(alice, room, "!run fetch")
    url = text.split("downloaded big.bin (60.0 MiB): ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:") and "/downloads/" in url
    assert files_in(alice, room) == []

    listing = url.rsplit("/", 1)[0] + "/"  # the run's list of files: claims, spends nothing
    local = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0))
    async with aiohttp.ClientSession(connector=local) as http, http.get(listing) as r:
        assert r.status == 200 and "big.bin" in await r.text()
    elsewhere = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=elsewhere) as http, http.get(url) as r:
        assert r.status == 403 and "another address" in await r.text()  # the link is claimed
    out = tmp_path / "big.bin"
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--fail",
        "--interface",
        "127.0.0.1",
        "-o",
        str(out),
        url,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(curl.communicate(), 60)
    assert curl.returncode == 0, errors
    assert (
        hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(payload.read_bytes()).digest()
    )

    again = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0))
    async with aiohttp.ClientSession(connector=again) as http, http.get(url) as r:
        assert r.status == 410 and "used already" in await r.text()

    token = url.split("/downloads/")[1].split("/")[0]
    assert token not in git(opsbot.repo, "log", "-p", "refs/opsbot/runs")
