"""Download links over real HTTP: the person who asked gets the file, whole or resumed with a
Range (aiohttp and curl), and a link used from another address, after its expiry, or again
when it was for one use is refused with a reason (tests/security/test_http.py holds what a
single-use link refuses)."""

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.features.catalog import sections
from bot.features.downloads.host import Downloads
from bot.features.downloads.links import DONE
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot
from tests.helpers.http import http_listener

ALICE = "@alice:example.org"
PAYLOAD = os.urandom(3_000_000)


@dataclass
class Served:
    listener: HttpListener
    downloads: Downloads

    def link(self, single_use: bool = True, lifetime: float = 600) -> str:
        link = self.downloads.ledger.issue("run-1", ALICE, lifetime, single_use)
        return self.downloads.url(link.token, "dump.bin")


@pytest.fixture
async def served(bot: Bot, tmp_path: Path) -> AsyncIterator[Served]:
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
    )
    loaded = config.load(host, sections())
    listener = http_listener(bot, loaded)
    await listener.start()
    downloads = Downloads.of(loaded)
    downloads.base_url = listener.url  # the port is known once bound
    (downloads.store.open_run("run-1") / "dump.bin").write_bytes(PAYLOAD)
    downloads.ledger.started("run-1", ALICE, "!ops:example.org")
    downloads.ledger.ended("run-1", DONE)
    yield Served(listener, downloads)
    downloads.close()
    await listener.stop()


def session(address: str = "127.0.0.1") -> aiohttp.ClientSession:
    """A client connecting from `address` (any 127.x address is this host: another person)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_the_person_downloads_the_file_whole(served: Served) -> None:
    async with session() as http, http.get(served.link()) as r:
        assert r.status == 200
        assert r.headers["Content-Disposition"] == 'attachment; filename="dump.bin"'
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert r.headers["Cache-Control"] == "no-store"
        assert await r.read() == PAYLOAD


async def test_an_interrupted_download_resumes_with_a_range(served: Served) -> None:
    url = served.link(single_use=False)  # a single-use link is spent by its first byte
    async with session() as http:
        async with http.get(url, headers={"Range": "bytes=0-999999"}) as r:
            assert r.status == 206
            first = await r.read()
        async with http.get(url, headers={"Range": "bytes=1000000-"}) as r:
            assert r.status == 206
            assert r.headers["Content-Range"] == f"bytes 1000000-2999999/{len(PAYLOAD)}"
            rest = await r.read()
    assert first + rest == PAYLOAD


async def test_curl_resumes_a_partial_file(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "dump.bin"
    out.write_bytes(PAYLOAD[:1_234_567])  # what arrived before the connection dropped
    curl = await asyncio.create_subprocess_exec(
        "curl",
        "-sS",
        "--fail",
        "-C",
        "-",
        "-o",
        str(out),
        served.link(),
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await asyncio.wait_for(curl.communicate(), 30)
    assert curl.returncode == 0, errors
    assert out.read_bytes() == PAYLOAD


async def test_a_single_use_link_is_refused_the_second_time(served: Served) -> None:
    url = served.link(single_use=True)
    async with session() as http:
        async with http.get(url) as r:
            assert r.status == 200 and await r.read() == PAYLOAD
        async with http.get(url) as r:
            assert r.status == 410
            assert "used already" in await r.text()


async def test_a_link_that_may_be_used_again_works_until_it_expires(served: Served) -> None:
    url = served.link(single_use=False)
    async with session() as http:
        for _ in range(2):
            async with http.get(url) as r:
                assert r.status == 200 and await r.read() == PAYLOAD


async def test_an_expired_link_is_refused(served: Served) -> None:
    url = served.link(lifetime=-1)
    async with session() as http, http.get(url) as r:
        assert r.status == 410
        assert "expired" in await r.text()


async def test_someone_else_with_the_link_is_refused_once_the_person_started(
    served: Served,
) -> None:
    url = served.link(single_use=False)
    async with session("127.0.0.1") as http, http.get(url, headers={"Range": "bytes=0-9"}) as r:
        assert r.status == 206
    async with session("127.0.0.2") as http, http.get(url) as r:
        assert r.status == 403
        text = await r.text()
    assert "another address" in text and ALICE in text


async def test_a_guessed_or_altered_token_finds_nothing(served: Served) -> None:
    url = served.link()
    token = url.split("/")[-2]
    altered = url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    async with session() as http, http.get(altered) as r:
        assert r.status == 404
        assert "no such download link" in await r.text()


async def test_only_the_runs_own_files_are_served(served: Served, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("not in the run")
    run = served.downloads.store.run_dir("run-1")
    (run / "escape").symlink_to(tmp_path / "secret")
    base = served.link(single_use=False).rsplit("/", 1)[0]
    async with session() as http:
        for name in ("escape", "..%2F..%2Fopsbot.toml", "%2E%2E/secret"):
            async with http.get(f"{base}/{name}") as r:
                assert r.status == 404, name


async def test_the_list_of_a_runs_files_links_each(served: Served) -> None:
    (served.downloads.store.run_dir("run-1") / "b<x>.log").write_text("b")
    base = served.link().rsplit("/", 1)[0]
    async with session() as http, http.get(base + "/") as r:
        assert r.status == 200
        page = await r.text()
    assert '<a href="dump.bin">dump.bin</a>' in page and "b&lt;x&gt;.log" in page
