"""A feature's GET page on the HTTP listener: served only when the host config turns it on,
its text or its file as the page says, a file streamed with HTTP Range so that an interrupted
download resumes (read with a real HTTP client), and a client that asks too often is slowed."""

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.engine.http import Fetch, Page, Served
from bot.engine.requests import Requests
from bot.engine.services import Services
from bot.features.catalog import sections
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot

PAYLOAD = os.urandom(1_000_000)


def pages(file: Path) -> list[Page]:
    async def hello(_requests: Requests, fetch: Fetch) -> Served:
        return Served(text=f"hello {fetch.params['name']} {fetch.query.get('x', '')}".strip())

    async def download(_requests: Requests, fetch: Fetch) -> Served:
        if fetch.headers.get("authorization") != "Bearer let-me-in":
            return Served(status=403, text="not yours")
        return Served(file=file, filename="dump.bin", content_type="application/octet-stream")

    return [
        Page("/hello/{name}", hello),
        Page("/dump", download),
        Page("/off", hello, enabled=lambda _config: False),
        Page("/busy/{name}", hello, per_minute=3),
    ]


@pytest.fixture
async def listening(bot: Bot, tmp_path: Path) -> AsyncIterator[Callable[[str], str]]:
    file = tmp_path / "dump.bin"
    file.write_bytes(PAYLOAD)
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
    )
    loaded = config.load(host, sections())
    listener = HttpListener(loaded, Services(bot.engine, loaded), pages=pages(file))
    await listener.start()
    yield lambda path: f"{listener.url}{path}"
    await listener.stop()


async def test_a_page_answers_with_its_text(listening: Callable[[str], str]) -> None:
    async with aiohttp.ClientSession() as http, http.get(listening("/hello/web?x=1")) as r:
        assert (r.status, await r.text()) == (200, "hello web 1")


async def test_a_page_the_host_config_leaves_off_is_not_there(
    listening: Callable[[str], str],
) -> None:
    async with aiohttp.ClientSession() as http, http.get(listening("/off")) as r:
        assert r.status == 404


async def test_a_file_is_served_whole_for_saving(listening: Callable[[str], str]) -> None:
    auth = {"Authorization": "Bearer let-me-in"}
    async with aiohttp.ClientSession() as http, http.get(listening("/dump"), headers=auth) as r:
        assert r.status == 200
        assert r.headers["Content-Disposition"] == 'attachment; filename="dump.bin"'
        assert await r.read() == PAYLOAD


async def test_an_interrupted_download_resumes_with_a_range(
    listening: Callable[[str], str],
) -> None:
    headers = {"Authorization": "Bearer let-me-in", "Range": "bytes=600000-"}
    async with aiohttp.ClientSession() as http, http.get(listening("/dump"), headers=headers) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 600000-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
        assert await r.read() == PAYLOAD[600000:]


async def test_the_page_decides_who_may_read_it(listening: Callable[[str], str]) -> None:
    async with aiohttp.ClientSession() as http, http.get(listening("/dump")) as r:
        assert (r.status, await r.text()) == (403, "not yours")


async def test_a_client_asking_too_often_is_told_to_wait(listening: Callable[[str], str]) -> None:
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(4):
            async with http.get(listening("/busy/web")) as r:
                statuses.append(r.status)
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
