"""The host config's [http], [webhooks.<source>], [alerts] and [mirrors] sections: defaults,
every problem named with its file, key and line, and secrets read from their files when the
listener starts."""

from pathlib import Path

import aiohttp
import pytest

from bot import config
from bot.config.http import HttpConfig
from bot.config.problems import ConfigError
from bot.config.webhooks import WebhookConfig
from bot.features.alerts.settings import ALERTS, AlertsConfig
from bot.features.catalog import sections
from tests.helpers.bot import Bot
from tests.helpers.http import http_listener

PATHS = '[paths]\nrepo = "/var/lib/opsbot/state.git"\nstate_dir = "/var/lib/opsbot"\n'


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "opsbot.toml"
    path.write_text(PATHS + text)
    return config.load(path, sections())


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, text)
    where = f"{tmp_path / 'opsbot.toml'}:"
    return [line.removeprefix(where) for line in refused.value.message.splitlines()]


def test_without_an_http_section_nothing_listens(tmp_path: Path) -> None:
    loaded = load(tmp_path, "")
    assert (loaded.http, loaded.webhooks, loaded.section(ALERTS), loaded.mirrors) == (
        None,
        (),
        None,
        (),
    )


def test_an_empty_http_section_listens_on_localhost_only(tmp_path: Path) -> None:
    assert load(tmp_path, "[http]\n").http == HttpConfig(
        host="127.0.0.1",
        port=8088,
        token_file=None,
        max_body_bytes=1048576,
        webhooks_per_minute=60,
    )


def test_every_section_read(tmp_path: Path) -> None:
    loaded = load(
        tmp_path,
        '[http]\nlisten = "[::1]:9000"\ntoken_file = "/run/credentials/opsbot/http"\n'
        "max_body_bytes = 65536\nwebhooks_per_minute = 10\n"
        '[webhooks.ci]\nsecret_file = "/run/ci"\nroom = "!ci:example.org"\n'
        '[webhooks.flux-system]\nsecret_file = "/run/flux"\n'
        '[alerts]\nroom = "!alerts:example.org"\ntoken_file = "/run/am"\n'
        '[mirrors]\nremotes = ["/srv/backup/state.git", "ssh://git@backup/state.git"]\n',
    )
    assert loaded.http == HttpConfig("::1", 9000, Path("/run/credentials/opsbot/http"), 65536, 10)
    assert loaded.webhooks == (
        WebhookConfig("ci", Path("/run/ci"), "!ci:example.org"),
        WebhookConfig("flux-system", Path("/run/flux"), None),
    )
    assert loaded.section(ALERTS) == AlertsConfig("!alerts:example.org", Path("/run/am"))
    assert loaded.mirrors == ("/srv/backup/state.git", "ssh://git@backup/state.git")


def test_each_problem_is_named_with_its_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        '[http]\nlisten = "8088"\nmax_body_bytes = 10\nwebhooks_per_minute = true\nport = 1\n'
        '[webhooks.ci]\nroom = "#ci:example.org"\nsecret = "inline"\n'
        '[webhooks.Bad_Name]\nsecret_file = "/run/x"\n'
        '[alerts]\nroom = "alerts"\ntoken_file = "/run/am"\n'
        '[mirrors]\nremotes = "/srv/backup/state.git"\n',
    )
    assert found == [
        "8: [http] port: unknown key (known: listen, max_body_bytes, token_file, "
        "webhooks_per_minute)",
        "5: [http] listen: '8088' is not host:port, like '127.0.0.1:8088'",
        "6: [http] max_body_bytes: must be a whole number >= 1024",
        "7: [http] webhooks_per_minute: must be a whole number >= 1",
        "11: [webhooks.ci] secret: unknown key (known: records_versions, room, secret_file)",
        " [webhooks.ci] secret_file: missing: every webhook is signed with its secret",  # no line
        "12: [webhooks.Bad_Name]: a source name is lowercase letters, digits, - and _",
        "15: [alerts] room: 'alerts' is not a Matrix room id like !abc:example.org",
        '18: [mirrors] remotes: must be a list of remotes, like ["/srv/backup/state.git"]',
    ]


def test_alerts_and_webhooks_need_the_listener(tmp_path: Path) -> None:
    assert problems(
        tmp_path, '[alerts]\ntoken_file = "/run/am"\n[webhooks.ci]\nsecret_file = "/run/ci"\n'
    ) == [
        "4: [alerts]: needs an [http] section to listen on",
        "6: [webhooks.ci]: needs an [http] section to listen on",
    ]


@pytest.mark.security
def test_alerts_without_a_token_are_a_config_error_naming_the_key_and_the_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, '[http]\n[alerts]\nroom = "!alerts:example.org"\n')

    assert refused.value.message == (
        f"{tmp_path / 'opsbot.toml'}: [alerts] token_file: missing: the bearer token "
        "Alertmanager must send (or unauthenticated = true, with a loopback [http] listen)"
    )


@pytest.mark.security
@pytest.mark.parametrize(
    "listen", ["0.0.0.0:8088", "192.0.2.7:8088", "[::]:8088", "localhost:8088"]
)
def test_unauthenticated_alerts_are_refused_unless_the_listener_is_on_loopback(
    tmp_path: Path, listen: str
) -> None:
    found = problems(tmp_path, f'[http]\nlisten = "{listen}"\n[alerts]\nunauthenticated = true\n')

    host = listen.rpartition(":")[0].strip("[]")
    assert found == [
        f"7: [alerts] unauthenticated: true, but [http] listen is on {host}, not a loopback "
        "address like 127.0.0.1: set token_file"
    ]


@pytest.mark.parametrize("listen", ["127.0.0.1:8088", "127.0.0.2:0", "[::1]:8088"])
def test_unauthenticated_alerts_on_loopback_are_allowed_when_the_config_says_so(
    tmp_path: Path, listen: str
) -> None:
    loaded = load(tmp_path, f'[http]\nlisten = "{listen}"\n[alerts]\nunauthenticated = true\n')
    assert loaded.section(ALERTS) == AlertsConfig(unauthenticated=True)


def test_alerts_take_a_token_or_unauthenticated_not_both(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        '[http]\n[alerts]\ntoken_file = "/run/am"\nunauthenticated = true\n'
        "requests_per_minute = 0\n",
    ) == [
        "7: [alerts] unauthenticated: true, but token_file is set too: choose one",
        "8: [alerts] requests_per_minute: must be a whole number >= 1",
    ]


def test_a_mirror_listed_twice_is_a_problem(tmp_path: Path) -> None:
    assert problems(tmp_path, '[mirrors]\nremotes = ["/srv/a.git", "/srv/a.git"]\n') == [
        "5: [mirrors] remotes: lists a remote twice"
    ]


def host_config(bot: Bot, tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "opsbot.toml"
    path.write_text(
        f'[paths]\nrepo = "{bot.paths.repo}"\nstate_dir = "{bot.paths.state_dir}"\n' + text
    )
    return config.load(path, sections())


@pytest.mark.parametrize(
    ("section", "key"),
    [("http", "token_file"), ("alerts", "token_file"), ("webhooks.ci", "secret_file")],
)
@pytest.mark.parametrize("content", [None, "", "\n"])
async def test_a_missing_or_empty_secret_stops_the_start(
    bot: Bot, tmp_path: Path, section: str, key: str, content: str | None
) -> None:
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    http = "" if section == "http" else '[http]\nlisten = "127.0.0.1:0"\n'
    loaded = host_config(bot, tmp_path, f'{http}[{section}]\n{key} = "{secret}"\n')
    listener = http_listener(bot, loaded)

    with pytest.raises(ConfigError) as refused:
        await listener.start()

    assert refused.value.message.startswith(f"[{section}] {key}: ")
    assert str(secret) in refused.value.message


async def test_routes_not_configured_are_not_there(bot: Bot, tmp_path: Path) -> None:
    listener = http_listener(bot, host_config(bot, tmp_path, '[http]\nlisten = "127.0.0.1:0"\n'))
    await listener.start()
    try:
        assert listener.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            for method, path in [
                ("GET", "/state.git/info/refs?service=git-upload-pack"),
                ("POST", "/webhooks/ci"),
                ("POST", "/alertmanager"),  # no [alerts] section
                ("GET", "/"),
            ]:
                async with http.request(method, f"{listener.url}{path}") as response:
                    assert response.status == 404, path
    finally:
        await listener.stop()


async def test_an_address_in_use_stops_the_start_and_leaves_nothing_open(
    bot: Bot, tmp_path: Path
) -> None:
    first = http_listener(bot, host_config(bot, tmp_path, '[http]\nlisten = "127.0.0.1:0"\n'))
    await first.start()
    try:
        (tmp_path / "ci.secret").write_text("s")
        taken = host_config(
            bot,
            tmp_path,
            f'[http]\nlisten = "127.0.0.1:{first.port}"\n'
            f'[webhooks.ci]\nsecret_file = "{tmp_path / "ci.secret"}"\n',
        )
        second = http_listener(bot, taken)
        with pytest.raises(OSError):
            await second.start()
        await second.stop()  # harmless after a failed start
    finally:
        await first.stop()
