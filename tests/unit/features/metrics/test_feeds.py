"""Where the metrics go besides the room: Prometheus' scrape of `/metrics` (by a real Prometheus
where Debian's `prometheus` is installed), the weekly digest, and versions a CI records."""

import hashlib
import hmac
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.core.effects import Notify
from bot.engine.services import Services
from bot.features.catalog import sections
from bot.features.metrics.commands import digest_week, post_digest
from bot.state.notes import add_note
from bot.state.outcome import RunOutcome
from bot.transport.http import HttpListener
from tests.helpers.bot import Bot
from tests.helpers.http import http_listener

TOKEN = "scrape-token"
PROMETHEUS = shutil.which("prometheus")


def applied(bot: Bot, command: str, status: str = "ok") -> str:
    reply = bot.say(command)
    assert reply.ok and reply.commit, reply.text
    env = command.split()[-1]
    app, version = command.split()[1:3]
    add_note(
        bot.engine.repo,
        RunOutcome(reply.commit, app, env, version, status, 1, True, None, bot.clock()),  # type: ignore[arg-type]
    )
    return reply.commit


def host_config(bot: Bot, tmp_path: Path, metrics: str, webhooks: str = "") -> config.Config:
    (tmp_path / "scrape.token").write_text(TOKEN)
    (tmp_path / "ci.secret").write_text("ci-secret")
    path = tmp_path / "opsbot.toml"
    path.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n'
        f'[http]\nlisten = "127.0.0.1:0"\n{metrics}\n{webhooks}\n'
    )
    return config.load(path, sections())


@pytest.fixture
async def served(bot: Bot, tmp_path: Path) -> AsyncIterator[HttpListener]:
    metrics = f'[metrics]\ntoken_file = "{tmp_path / "scrape.token"}"'
    webhooks = f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"\nrecords_versions = true'
    listener = http_listener(bot, host_config(bot, tmp_path, metrics, webhooks))
    await listener.start()
    yield listener
    await listener.stop()


async def scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.text()


async def test_metrics_are_served_in_the_prometheus_text_format(
    bot: Bot, served: HttpListener
) -> None:
    applied(bot, "!deploy web 1.0 to prod")
    applied(bot, "!deploy web 1.1 to prod", status="failed")
    applied(bot, "!deploy api 2.0 to staging")
    assert bot.say("!incident open sev2 Login fails").ok
    assert not bot.say("!nonsense").ok
    status, text = await scrape(f"{served.url}/metrics")
    assert status == 200
    lines = set(text.splitlines())
    assert "# TYPE opsbot_deployments_total counter" in lines
    assert 'opsbot_deployments_total{app="web",env="prod",result="applied"} 1.0' in lines
    assert 'opsbot_deployments_total{app="web",env="prod",result="failed"} 1.0' in lines
    assert 'opsbot_deployments_total{app="api",env="staging",result="applied"} 1.0' in lines
    assert 'opsbot_change_failures_total{app="web",env="prod"} 1.0' in lines
    assert 'opsbot_open_incidents{severity="sev2"} 1.0' in lines
    assert 'opsbot_commands_total{command="deploy",result="handled"} 3.0' in lines
    assert 'opsbot_commands_total{command="unknown",result="refused"} 1.0' in lines
    assert any(line.startswith('opsbot_outbox_effects{state="ready"}') for line in lines)


async def test_metrics_need_the_token(bot: Bot, served: HttpListener) -> None:
    assert (await scrape(f"{served.url}/metrics", token=None))[0] == 401
    assert (await scrape(f"{served.url}/metrics", token="wrong"))[0] == 401


async def test_without_a_token_only_this_host_may_scrape(bot: Bot, tmp_path: Path) -> None:
    listener = http_listener(bot, host_config(bot, tmp_path, "[metrics]"))
    await listener.start()
    try:
        status, text = await scrape(f"{listener.url}/metrics", token=None)
    finally:
        await listener.stop()
    assert status == 200 and "opsbot_open_incidents" in text


async def test_no_metrics_section_no_page(bot: Bot, tmp_path: Path) -> None:
    listener = http_listener(bot, host_config(bot, tmp_path, ""))
    await listener.start()
    try:
        assert (await scrape(f"{listener.url}/metrics"))[0] == 404
    finally:
        await listener.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary on PATH (Debian: apt-get install prometheus)"
)
async def test_a_real_prometheus_scrapes_it(bot: Bot, served: HttpListener, tmp_path: Path) -> None:
    applied(bot, "!deploy web 1.0 to prod")
    port = _free_port()
    target = served.url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: opsbot
    authorization: {{credentials_file: "{tmp_path / "scrape.token"}"}}
    static_configs: [{{targets: ["{target}"]}}]
"""
    )
    assert PROMETHEUS is not None
    log = (tmp_path / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    query = 'opsbot_deployments_total{app="web",env="prod",result="applied"}'
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.request.quote(query)}"
    try:
        deadline = time.monotonic() + 60
        found: list[dict[str, object]] = []
        while not found and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                async with aiohttp.ClientSession() as session, session.get(url) as response:
                    found = (await response.json())["data"]["result"]
            except (aiohttp.ClientError, KeyError):
                pass
            if not found:
                import asyncio

                await asyncio.sleep(0.5)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
    assert found, (tmp_path / "prometheus.log").read_text()[-2000:]
    assert found[0]["value"][1] == "1"  # type: ignore[index]


async def test_the_weekly_digest_is_posted_once_per_week(bot: Bot) -> None:
    bot.edit(
        "policy.toml",
        bot.show("policy.toml")
        + '\n[rooms]\nannounce = ["!ann:example.org"]\n[metrics]\nweekly_digest = true\n',
    )
    services = Services(bot.engine)
    await post_digest(services)
    await post_digest(services)  # an hour later, or after a restart: the same week
    digests = [o for o in bot.engine.ledger.due() if o.identity.startswith("metrics:digest:")]
    since, _ = digest_week(datetime.now(UTC))
    assert [o.identity for o in digests] == [f"metrics:digest:{since:%Y-%m-%d}"]
    assert isinstance(digests[0].effect, Notify) and digests[0].effect.announce
    assert digests[0].effect.text.startswith("weekly digest: metrics for all apps")


async def test_no_digest_unless_policy_asks(bot: Bot) -> None:
    await post_digest(Services(bot.engine))
    assert not [o for o in bot.engine.ledger.due() if o.identity.startswith("metrics:digest:")]


def test_the_digest_week_is_the_last_whole_week() -> None:
    wednesday = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    assert digest_week(wednesday) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert digest_week(datetime(2026, 11, 23, tzinfo=UTC))[1] - timedelta(days=7) == datetime(
        2026, 11, 16, tzinfo=UTC
    )


def _signed(body: bytes, delivery: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(b"ci-secret", f"v1:{ts}:{delivery}:".encode() + body, hashlib.sha256)
    return {
        "X-Timestamp": ts,
        "X-Delivery": delivery,
        "Content-Type": "application/json",
        "X-Signature": f"sha256={digest.hexdigest()}",
    }


async def post(url: str, body: bytes, delivery: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=_signed(body, delivery)) as response,
    ):
        return response.status


async def test_a_ci_webhook_records_a_version_and_lead_time_starts_at_its_build(
    bot: Bot, served: HttpListener
) -> None:
    built = bot.clock() - timedelta(hours=2)
    payload = {
        "text": "web 1.4.2 built",
        "version": {
            "app": "web",
            "version": "1.4.2",
            "commit": "4f2a9c1" + "0" * 33,
            "built_at": built.isoformat(),
        },
    }
    body = json.dumps(payload).encode()
    assert await post(f"{served.url}/webhooks/ci", body, "build-1") == 202
    record = bot.show("versions/web/1.4.2.toml")
    assert 'commit = "4f2a9c1' in record and "built_at = 2026-11-26T10:00:00Z" in record
    reply = bot.say("!deploy web 1.4.2 to prod")
    assert reply.commit
    add_note(
        bot.engine.repo,
        RunOutcome(
            reply.commit,
            "web",
            "prod",
            "1.4.2",
            "ok",
            1,
            True,
            None,
            bot.clock() + timedelta(minutes=30),
        ),
    )
    bot.clock.advance(hours=1)
    answer = bot.say("!metrics --since 7d")
    # From the build (10:00) to the apply (12:30): 2.5 hours, and the table says where from.
    assert "lead time for changes        median 2.5h, p90 2.5h (n=1) · elite; from build 1" in (
        answer.text
    )


async def test_a_version_from_a_source_that_may_not_record_is_only_a_notice(
    bot: Bot, tmp_path: Path
) -> None:
    webhooks = f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"'
    listener = http_listener(bot, host_config(bot, tmp_path, "", webhooks))
    await listener.start()
    head = bot.head()
    body = json.dumps(
        {
            "version": {
                "app": "web",
                "version": "1.0",
                "commit": "a" * 40,
                "built_at": "2026-11-26T10:00:00Z",
            }
        }
    ).encode()
    try:
        assert await post(f"{listener.url}/webhooks/ci", body, "b-2") == 202
    finally:
        await listener.stop()
    assert bot.head() == head
