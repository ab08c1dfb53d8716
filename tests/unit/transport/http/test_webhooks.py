"""Webhooks from CI and other tools (`POST /webhooks/<source>`): signed JSON becomes a notice in
the source's room. Whatever is refused (no or bad signature, stale, too large, not JSON, too
many, unknown source) gets its status, posts nothing, stores nothing, and is logged once per
kind."""

import asyncio
import hashlib
import hmac
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.features.catalog import sections
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot
from tests.helpers.http import http_listener, owed_notices

CI_SECRET = b"ci-secret"
FLUX_SECRET = b"flux-secret"
CI_ROOM = "!ci:example.org"


@dataclass
class Rooms:
    """What the webhooks owe the rooms, read from the outbox: (room, text), in order."""

    bot: Bot | None = None

    @property
    def posted(self) -> list[tuple[str, str]]:
        assert self.bot is not None, "serve(rooms) first"
        return owed_notices(self.bot, "webhook")


Serve = Callable[..., Awaitable[HttpListener]]


@pytest.fixture
async def serve(bot: Bot, tmp_path: Path) -> AsyncIterator[Serve]:
    (tmp_path / "ci.secret").write_bytes(CI_SECRET + b"\n")
    (tmp_path / "flux.secret").write_bytes(FLUX_SECRET)
    started: list[HttpListener] = []

    async def start(rooms: Rooms, **http: object) -> HttpListener:
        extra = "".join(f"{key} = {json.dumps(value)}\n" for key, value in http.items())
        host_config = tmp_path / "opsbot.toml"
        host_config.write_text(
            f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
            f'[http]\nlisten = "127.0.0.1:0"\n{extra}'
            f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"\nroom = "{CI_ROOM}"\n'
            f'[webhooks.flux]\nsecret_file = "{tmp_path / "flux.secret"}"\n'
        )
        rooms.bot = bot
        listener = http_listener(bot, config.load(host_config, sections()))
        await listener.start()
        started.append(listener)
        return listener

    yield start
    for listener in started:
        await listener.stop()


def signed(
    body: bytes, secret: bytes = CI_SECRET, *, delivery: str | None = None, age: float = 0
) -> dict[str, str]:
    """The headers a sender computes, as the README says: the HMAC-SHA256 of
    `v1:<timestamp>:<delivery id>:<body>`."""
    delivery = delivery or str(uuid.uuid4())
    timestamp = str(int(time.time() - age))
    digest = hmac.new(
        secret, f"v1:{timestamp}:{delivery}:".encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "X-Timestamp": timestamp,
        "X-Delivery": delivery,
        "X-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


async def send(
    listener: HttpListener, body: bytes, headers: dict[str, str], source: str = "ci"
) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{listener.url}/webhooks/{source}", data=body, headers=headers) as response,
    ):
        return response.status, await response.json()


def deliveries(bot: Bot) -> int:
    path = bot.paths.state_dir / "webhooks.sqlite"
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM deliveries").fetchone()[0])


BUILD = json.dumps({"text": "build 812 of web passed", "status": "success"}).encode()


async def test_a_signed_webhook_is_posted_to_its_room(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)

    status, answer = await send(listener, BUILD, signed(BUILD))

    assert (status, answer) == (202, {"ok": True})
    assert rooms.posted == [(CI_ROOM, "ci: build 812 of web passed (status: success)")]


@pytest.mark.security
async def test_a_signature_over_the_body_alone_is_refused(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    body_only = hmac.new(CI_SECRET, BUILD, hashlib.sha256).hexdigest()

    status, answer = await send(
        listener, BUILD, {**signed(BUILD), "X-Signature": f"sha256={body_only}"}
    )

    assert (status, answer) == (401, {"ok": False, "error": "bad signature"})
    assert rooms.posted == []


@pytest.mark.security
@pytest.mark.parametrize(
    "change",
    [
        {"X-Delivery": "another-id"},
        {"X-Delivery": None},
        {"X-Timestamp": None},
        {"X-Timestamp": str(int(time.time()) - 1)},
    ],
)
async def test_a_replay_with_its_delivery_id_or_timestamp_changed_or_dropped_is_not_posted(
    serve: Serve, bot: Bot, change: dict[str, str | None]
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    captured = signed(BUILD)
    first, _ = await send(listener, BUILD, captured)

    replayed = {k: v for k, v in {**captured, **change}.items() if v is not None}
    status, _ = await send(listener, BUILD, replayed)

    assert (first, status) == (202, 401)
    assert len(rooms.posted) == 1
    assert deliveries(bot) == 1


@pytest.mark.security
@pytest.mark.parametrize("age", [301, 3600, -120])
async def test_a_timestamp_over_5_minutes_old_or_ahead_of_the_clock_is_refused(
    serve: Serve, age: float
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)

    status, answer = await send(listener, BUILD, signed(BUILD, age=age))

    assert (status, answer) == (
        401,
        {
            "ok": False,
            "error": "timestamp too old or too far ahead; sign again with the current time",
        },
    )
    assert rooms.posted == []


async def test_a_timestamp_a_little_old_or_ahead_is_accepted(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    for age in (280, -30):
        status, _ = await send(listener, BUILD, signed(BUILD, age=age))
        assert status == 202
    assert len(rooms.posted) == 2


@pytest.mark.security
async def test_a_flood_of_bad_signatures_does_not_lock_out_the_real_sender(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms, webhooks_per_minute=4)  # a burst of 2, then one every 15 s

    flood = [
        (await send(listener, BUILD, {**signed(BUILD), "X-Signature": "sha256=" + "0" * 64}))[0]
        for _ in range(10)
    ]
    status, _ = await send(listener, BUILD, signed(BUILD))

    assert flood == [401, 401] + [429] * 8
    assert status == 202
    assert len(rooms.posted) == 1


@pytest.mark.security
async def test_json_nested_a_hundred_thousand_deep_is_400_with_a_short_reason(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    deep = b"[" * 100_000 + b"]" * 100_000

    status, answer = await send(listener, deep, signed(deep))

    assert (status, answer) == (400, {"ok": False, "error": "JSON nested deeper than 32 levels"})
    assert rooms.posted == []
    assert all(r.exc_info is None for r in caplog.records)


async def test_a_flux_event_reads_as_a_sentence_and_goes_to_the_announcement_rooms(
    serve: Serve,
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    event = json.dumps(
        {
            "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
            "severity": "error",
            "message": "health check failed after 5m0s",
            "reason": "HealthCheckFailed",
            "reportingController": "kustomize-controller",
        }
    ).encode()

    status, _ = await send(listener, event, signed(event, FLUX_SECRET), source="flux")

    assert status == 202
    assert rooms.posted == [
        (
            "announcement rooms",
            "flux: health check failed after 5m0s (Kustomization flux-system/apps; "
            "severity: error; reason: HealthCheckFailed)",
        )
    ]


async def test_json_without_a_sentence_is_shown_as_it_came(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    body = b'{"pipeline": 77, "ok": true}'

    await send(listener, body, signed(body))

    assert rooms.posted == [(CI_ROOM, 'ci: {"ok": true, "pipeline": 77}')]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing signature"),
        ({**signed(BUILD), "X-Signature": "sha256=" + "0" * 64}, "bad signature"),
        ({**signed(BUILD), "X-Signature": "sha256=é"}, "bad signature"),
        (signed(BUILD, FLUX_SECRET), "bad signature"),  # another source's secret
        (signed(BUILD + b" "), "bad signature"),  # over other bytes
        ({**signed(BUILD), "X-Signature": "sha1=" + "0" * 40}, "signature is not sha256=<hex>"),
        (
            {**signed(BUILD), "X-Timestamp": "yesterday"},
            "missing or malformed X-Timestamp (unix seconds)",
        ),
        (
            {**signed(BUILD), "X-Delivery": "a:b"},
            "missing or malformed X-Delivery (1 to 200 of A-Z a-z 0-9 . _ -)",
        ),
    ],
)
async def test_a_missing_or_bad_signature_is_401_and_does_nothing(
    serve: Serve, bot: Bot, headers: dict[str, str], reason: str
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)

    status, answer = await send(listener, BUILD, headers)

    assert (status, answer) == (401, {"ok": False, "error": reason})
    assert rooms.posted == []
    assert deliveries(bot) == 0


async def test_refusals_are_logged_once_per_source_and_reason(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opsbot.http")
    listener = await serve(Rooms())
    for _ in range(4):
        await send(listener, BUILD, {})
        await send(listener, BUILD, {**signed(BUILD), "X-Signature": "sha256=00"})
        await send(listener, BUILD, {}, source="flux")

    refused = sorted(
        (r.getMessage(), r.fields["source"])  # type: ignore[attr-defined]
        for r in caplog.records
        if r.getMessage().startswith("refused")
    )
    assert refused == [
        ("refused: bad signature", "ci"),
        ("refused: missing signature", "ci"),
        ("refused: missing signature", "flux"),
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks
    assert CI_SECRET.decode() not in caplog.text


async def test_a_body_over_the_limit_is_413(serve: Serve, bot: Bot) -> None:
    rooms = Rooms()
    listener = await serve(rooms, max_body_bytes=1024)
    big = json.dumps({"text": "x" * 2000}).encode()

    status, _ = await send(listener, big, signed(big))

    assert status == 413

    async def without_a_length() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * 512

    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{listener.url}/webhooks/ci", data=without_a_length()) as response,
    ):
        assert response.status == 413  # chunked: counted as it arrives
    assert rooms.posted == []
    assert deliveries(bot) == 0


async def test_a_signed_body_that_is_not_json_is_400(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    for body in (b"build passed", b"\xff\xfe{}", b""):
        status, answer = await send(listener, body, signed(body))
        assert (status, answer) == (400, {"ok": False, "error": "body is not JSON"})
    assert rooms.posted == []


async def test_a_delivery_seen_before_is_200_and_not_posted_again_even_after_a_restart(
    serve: Serve,
) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    headers = signed(BUILD, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")

    first = await send(listener, BUILD, headers)
    again = await send(listener, BUILD, headers)
    await listener.stop()
    after_restart = await send(await serve(rooms), BUILD, headers)

    assert first == (202, {"ok": True})
    assert again == after_restart == (200, {"ok": True, "duplicate": True})
    assert len(rooms.posted) == 1


async def test_a_delivery_is_owed_once_even_while_the_homeserver_is_away(serve: Serve) -> None:
    """The webhook only owes its notice (the outbox keeps it until the homeserver takes it):
    the sender is answered 202 at once and its retry changes nothing."""
    rooms = Rooms()
    listener = await serve(rooms)
    headers = signed(BUILD, delivery="retry-me")

    first, _ = await send(listener, BUILD, headers)
    retried, _ = await send(listener, BUILD, headers)

    assert (first, retried) == (202, 200)
    assert len(rooms.posted) == 1


async def test_a_flood_gets_429_per_source(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="opsbot.http")
    rooms = Rooms()
    listener = await serve(rooms, webhooks_per_minute=4)  # a burst of 2, then one every 15 s

    statuses = [(await send(listener, BUILD, signed(BUILD)))[0] for _ in range(10)]
    flux = json.dumps({"text": "reconciled"}).encode()
    other_source, _ = await send(listener, flux, signed(flux, FLUX_SECRET), source="flux")

    assert statuses == [202, 202] + [429] * 8
    assert other_source == 202
    assert len(rooms.posted) == 3
    assert [r.getMessage() for r in caplog.records if "refused" in r.getMessage()] == [
        "refused: too many requests"
    ]


async def test_a_flood_of_429_carries_retry_after(serve: Serve) -> None:
    listener = await serve(Rooms(), webhooks_per_minute=1)
    async with aiohttp.ClientSession() as http:
        for expected in (202, 429):
            async with http.post(
                f"{listener.url}/webhooks/ci", data=BUILD, headers=signed(BUILD)
            ) as response:
                assert response.status == expected
        assert 0 < int(response.headers["Retry-After"]) <= 60


async def test_an_unknown_source_is_404(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)

    status, _ = await send(listener, BUILD, signed(BUILD), source="jenkins")

    assert status == 404
    assert rooms.posted == []


async def test_two_copies_arriving_together_post_once(serve: Serve) -> None:
    rooms = Rooms()
    listener = await serve(rooms)
    headers = signed(BUILD, delivery="same")

    results = await asyncio.gather(*(send(listener, BUILD, headers) for _ in range(5)))

    assert sorted(status for status, _ in results) == [200, 200, 200, 200, 202]
    assert len(rooms.posted) == 1
