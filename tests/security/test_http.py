"""The HTTP listener's attacks from the security review, each made with a real HTTP client
against the real listener: what a client sees (status, bytes) is what is asserted."""

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.config import ConfigError
from bot.engine.services import Services
from bot.features.catalog import FEATURES, sections
from bot.features.downloads.host import Downloads
from bot.features.downloads.links import DONE, FAILED
from bot.features.downloads.pages import HELD
from bot.transport.http import HttpListener
from bot.transport.http.webhooks import sign
from tests.helpers.bot import ALICE, Bot
from tests.helpers.http import http_listener, owed_notices

PAYLOAD = os.urandom(300_000)
GROWING = os.urandom(2 * HELD)
TIMEOUT = aiohttp.ClientTimeout(total=10)


# Single-use download links


@dataclass
class Links:
    listener: HttpListener
    downloads: Downloads

    def link(self, run: str = "done", name: str = "dump.bin", single_use: bool = True) -> str:
        issued = self.downloads.ledger.issue(run, ALICE, 600, single_use)
        return self.downloads.url(issued.token, name)


@pytest.fixture
async def links(bot: Bot, tmp_path: Path) -> AsyncIterator[Links]:
    """A finished run ("done", with dump.bin) and one still writing its file ("writing",
    big.bin, written whole but not yet checked, so all but its last MiB may go out)."""
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
    )
    loaded = config.load(host, sections())
    listener = http_listener(bot, loaded)
    await listener.start()
    downloads = Downloads.of(loaded)
    downloads.base_url = listener.url
    ledger = downloads.ledger
    (downloads.store.open_run("done") / "dump.bin").write_bytes(PAYLOAD)
    ledger.started("done", ALICE, "!ops:example.org")
    ledger.ended("done", DONE)
    (downloads.store.open_run("writing") / "big.bin").write_bytes(GROWING)
    ledger.started("writing", ALICE, "!ops:example.org")
    ledger.grows("writing", "big.bin", len(GROWING))
    yield Links(listener, downloads)
    if ledger.status("writing") != DONE:
        ledger.ended("writing", FAILED)  # a fetch still following the file ends
    downloads.close()
    await listener.stop()


def session(address: str = "127.0.0.1") -> aiohttp.ClientSession:
    """A client connecting from `address` (any 127.x address is this host: another person)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, timeout=TIMEOUT)


async def fetch(
    url: str, range_: str | None = None, method: str = "GET", address: str = "127.0.0.1"
) -> tuple[int, bytes]:
    headers = {"Range": range_} if range_ else {}
    async with session(address) as http, http.request(method, url, headers=headers) as r:
        return r.status, await r.read()


async def test_a_range_short_of_the_last_byte_spends_a_single_use_link(links: Links) -> None:
    url = links.link()
    assert await fetch(url, f"bytes=0-{len(PAYLOAD) - 2}") == (206, PAYLOAD[:-1])
    status, body = await fetch(url)
    assert status == 410 and b"used already" in body


async def test_a_spent_single_use_link_sends_not_even_the_rest_of_the_file(links: Links) -> None:
    url = links.link()
    assert await fetch(url) == (200, PAYLOAD)
    status, body = await fetch(url, "bytes=1-")
    assert status == 410 and b"used already" in body


async def test_a_range_past_the_end_sends_nothing_and_spends_nothing(links: Links) -> None:
    url = links.link()
    assert (await fetch(url, f"bytes={len(PAYLOAD)}-"))[0] == 416
    assert await fetch(url) == (200, PAYLOAD)


async def test_fetches_racing_for_a_single_use_link_get_the_file_once(links: Links) -> None:
    url = links.link()
    answers = await asyncio.gather(*(fetch(url, "bytes=0-0") for _ in range(6)))
    assert sorted(status for status, _ in answers) == [206] + [410] * 5
    assert [body for status, body in answers if status == 206] == [PAYLOAD[:1]]


async def test_a_head_request_does_not_spend_a_single_use_link(links: Links) -> None:
    url = links.link()
    async with session() as http, http.head(url) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(len(PAYLOAD))
        assert await r.read() == b""
    assert await fetch(url) == (200, PAYLOAD)


async def test_a_head_request_does_not_claim_a_link_for_its_address(links: Links) -> None:
    url = links.link()
    assert (await fetch(url, method="HEAD", address="127.0.0.2"))[0] == 200
    assert await fetch(url, address="127.0.0.1") == (200, PAYLOAD)


async def test_a_head_request_for_a_spent_link_is_refused(links: Links) -> None:
    url = links.link()
    assert await fetch(url) == (200, PAYLOAD)
    assert await fetch(url, "bytes=1-", method="HEAD") == (410, b"")


async def test_a_file_still_being_written_spends_its_link_at_the_first_range(
    links: Links,
) -> None:
    url = links.link("writing", "big.bin")
    assert await fetch(url, "bytes=0-99") == (206, GROWING[:100])
    status, body = await fetch(url, "bytes=100-")
    assert status == 410 and b"used already" in body


async def test_a_head_request_for_a_file_being_written_sends_no_byte_and_spends_nothing(
    links: Links,
) -> None:
    url = links.link("writing", "big.bin")
    async with session() as http, http.head(url) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(len(GROWING))
        assert await r.read() == b""
        async with http.get(links.link()) as again:  # the same connection, kept alive
            assert (again.status, await again.read()) == (200, PAYLOAD)
    links.downloads.ledger.ended("writing", DONE)
    assert await fetch(url) == (200, GROWING)


# Tokens: an empty one opens nothing


def metrics_host(bot: Bot, tmp_path: Path, token: str) -> config.Config:
    (tmp_path / "scrape.token").write_text(token)
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        f'[http]\nlisten = "127.0.0.1:0"\n[metrics]\ntoken_file = "{tmp_path / "scrape.token"}"\n'
    )
    return config.load(host, sections())


async def test_an_empty_metrics_token_file_stops_the_start(bot: Bot, tmp_path: Path) -> None:
    listener = http_listener(bot, metrics_host(bot, tmp_path, " \n"))
    with pytest.raises(ConfigError) as refused:
        await listener.start()
    assert str(refused.value) == (
        f"[metrics] token_file: {tmp_path / 'scrape.token'} is empty; put the token in it"
    )


async def test_a_metrics_token_file_emptied_after_the_start_lets_no_one_scrape(
    bot: Bot, tmp_path: Path
) -> None:
    listener = http_listener(bot, metrics_host(bot, tmp_path, "scrape-token"))
    await listener.start()
    try:
        (tmp_path / "scrape.token").write_text("")
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
                async with http.get(f"{listener.url}/metrics", headers=headers) as r:
                    assert r.status == 401 and "opsbot_" not in await r.text()
    finally:
        await listener.stop()


async def test_a_metrics_token_that_is_not_utf8_is_refused(bot: Bot, tmp_path: Path) -> None:
    listener = http_listener(bot, metrics_host(bot, tmp_path, "scrape-token"))
    await listener.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n")
        writer.write(b"Connection: close\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    finally:
        await listener.stop()
    assert status_line.startswith(b"HTTP/1.1 401 ")


# The rate limits per client address


def listener_remembering(bot: Bot, tmp_path: Path, max_clients: int) -> HttpListener:
    """The listener as the service builds it, keeping at most `max_clients` buckets per limit."""
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
    )
    loaded = config.load(host, sections())
    pages = [page for feature in FEATURES for page in feature.pages]
    return HttpListener(loaded, Services(bot.engine, loaded), pages=pages, max_clients=max_clients)


async def test_a_flood_of_addresses_keeps_the_rate_limit_bounded_and_the_limited_limited(
    bot: Bot, tmp_path: Path
) -> None:
    listener = listener_remembering(bot, tmp_path, max_clients=16)
    await listener.start()
    url = f"{listener.url}/downloads/{'x' * 43}/dump.bin"  # a link no one was given: 404
    try:
        flooder = [await fetch(url, address="127.0.0.2") for _ in range(61)]  # 60 a minute
        assert flooder[-1][0] == 429
        statuses = []
        for n in range(64):  # as many addresses as a flood likes
            statuses.append((await fetch(url, address=f"127.0.1.{n + 1}"))[0])
            assert len(listener.limits) <= 16
        assert statuses == [404] * 15 + [429] * 49  # the table full: new addresses wait
        assert (await fetch(url, address="127.0.0.2"))[0] == 429  # still limited, not forgotten
        await asyncio.sleep(1.2)  # each address of the flood has its one request back
        assert (await fetch(url, address="127.0.2.1"))[0] == 404
        assert len(listener.limits) == 2  # the one still limited, and the one just seen
    finally:
        await listener.stop()


# Versions a CI records


def ci_host(bot: Bot, tmp_path: Path) -> config.Config:
    (tmp_path / "ci.secret").write_text("ci-secret")
    host = tmp_path / "opsbot.toml"
    host.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        '[http]\nlisten = "127.0.0.1:0"\n'
        f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"\nrecords_versions = true\n'
    )
    return config.load(host, sections())


@pytest.fixture
async def ci(bot: Bot, tmp_path: Path) -> AsyncIterator[HttpListener]:
    listener = http_listener(bot, ci_host(bot, tmp_path))
    await listener.start()
    yield listener
    await listener.stop()


async def built(
    listener: HttpListener, delivery: str, commit: str, built_at: str, committed_at: str = ""
) -> tuple[int, dict[str, object]]:
    """A CI's signed delivery saying web 1.4.2 was built from `commit`."""
    version = {"app": "web", "version": "1.4.2", "commit": commit, "built_at": built_at}
    if committed_at:
        version["committed_at"] = committed_at
    body = json.dumps({"text": "web 1.4.2 built", "version": version}).encode()
    stamp = str(int(time.time()))
    headers = {
        "X-Timestamp": stamp,
        "X-Delivery": delivery,
        "X-Signature": sign(b"ci-secret", stamp, delivery, body),
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.post(f"{listener.url}/webhooks/ci", data=body, headers=headers) as r,
    ):
        return r.status, await r.json()


def hours_ago(bot: Bot, hours: float) -> str:
    return (bot.clock() - timedelta(hours=hours)).isoformat()


async def test_a_recorded_version_is_not_rewritten_by_a_later_delivery(
    bot: Bot, ci: HttpListener
) -> None:
    assert (await built(ci, "build-1", "4f2a9c1" + "0" * 33, hours_ago(bot, 2)))[0] == 202
    head = bot.head()
    status, answer = await built(ci, "build-2", "bad0" * 10, hours_ago(bot, 1))
    assert status == 422
    assert answer["error"] == (
        "refused: web 1.4.2 is recorded already, built from 4f2a9c100000, not bad0bad0bad0:"
        " a version is recorded once; give this build a new version"
    )
    assert 'commit = "4f2a9c1' in bot.show("versions/web/1.4.2.toml") and bot.head() == head
    [(_, notice)] = owed_notices(bot, "webhook")  # the first delivery's; none for the second
    assert notice.startswith("ci: web 1.4.2 built\nversion: web 1.4.2 built from 4f2a9c100000")


async def test_the_same_version_from_the_same_commit_again_is_accepted_and_writes_nothing(
    bot: Bot, ci: HttpListener
) -> None:
    assert (await built(ci, "build-1", "4f2a9c1" + "0" * 33, hours_ago(bot, 2)))[0] == 202
    head = bot.head()
    assert (await built(ci, "build-1-again", "4f2a9c1" + "0" * 33, hours_ago(bot, 1)))[0] == 202
    assert bot.head() == head and "built_at = 2026-11-26T10:00:00Z" in bot.show(
        "versions/web/1.4.2.toml"
    )


@pytest.mark.parametrize(
    ("field", "when", "why"),
    [
        ("built_at", "2099-01-01T00:00:00Z", "is in the future"),
        ("built_at", "1970-01-01T00:00:00Z", "is more than a year ago"),
        ("committed_at", "2099-01-01T00:00:00Z", "is in the future"),
        ("committed_at", "1970-01-01T00:00:00Z", "is more than a year ago"),
    ],
)
async def test_a_time_far_from_the_hosts_clock_is_refused_with_the_reason(
    bot: Bot, ci: HttpListener, field: str, when: str, why: str
) -> None:
    head = bot.head()
    times = {"built_at": hours_ago(bot, 1), "committed_at": hours_ago(bot, 2), field: when}
    status, answer = await built(ci, "build-1", "4f2a9c1" + "0" * 33, **times)
    assert status == 422
    assert str(answer["error"]).startswith(f"refused: {field} {when!r} {why} (this host's")
    assert bot.head() == head and owed_notices(bot, "webhook") == []
