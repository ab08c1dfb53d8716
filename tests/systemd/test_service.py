"""opsbot under a real systemd: installed from its wheel, set up by following the README's
service steps as written, then asked what an operator relies on. The tests of this file follow
one host through its life, in order."""

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.container import Container
from tests.helpers.matrix import unique
from tests.helpers.service_host import ServiceHost

IN_ONE_LOOP = pytest.mark.asyncio(loop_scope="module")
"""The room and its client live in one event loop for the whole file."""


@pytest.fixture(scope="module")
def host(
    tarball: Path,
    wheelhouse: Path,
    homeserver: Homeserver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceHost]:
    container = Container(tmp_path_factory.mktemp("containers"), tarball, "host")
    try:
        container.boot(binds=[(wheelhouse, "/wheelhouse")])
        password = secrets.token_urlsafe(12)
        bot = homeserver.register(unique("opsbot"), password)
        admin = homeserver.register(unique("alice"), "alice-" + password)
        service = ServiceHost(
            container, homeserver=homeserver.base_url, bot=bot, admin=admin, password=password
        )
        service.install()
        service.follow_readme()
        yield service
    finally:
        container.stop()


@dataclass
class Room:
    alice: Person
    id: str

    async def ask(self, text: str, timeout: float = 60) -> str:
        event = await self.alice.send(self.id, text)
        reply = await self.alice.reply_to(event, timeout=timeout)
        return str(reply["body"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def room(
    host: ServiceHost, homeserver: Homeserver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Room]:
    """Alice, the first admin, in an encrypted room with the bot."""
    alice = Person(
        homeserver.base_url, host.admin, "alice-" + host.password, tmp_path_factory.mktemp("alice")
    )
    await alice.login()
    room = await alice.create_room(invite=[host.bot])
    await alice.until_joined(room, host.bot, timeout=60)
    yield Room(alice, room)
    await alice.close()


def test_the_unit_is_activating_until_the_bot_serves_and_active_after(host: ServiceHost) -> None:
    states = host.seen.states
    starting = [status for state, status in states if state == "activating"]
    assert starting, f"never seen activating: {states}"
    assert not any(s.startswith("serving") for s in starting), states
    assert states[-1][0] == "active"
    assert re.fullmatch(r"serving \d+ rooms?.*", states[-1][1]), states[-1]
    status = next(r for c, r in host.results if c.startswith("systemctl status"))
    assert "Active: active (running)" in status.stdout
    assert 'Status: "serving' in status.stdout


@IN_ONE_LOOP
async def test_a_command_in_an_encrypted_room_is_answered(host: ServiceHost, room: Room) -> None:
    assert "admin" in await room.ask("!whoami")
    answer = await room.ask("!deploy web 1.0.0 to dev --reason first")
    assert answer.startswith("deploy: web 1.0.0 to dev"), answer
    assert "deploy: web 1.0.0 to dev" in host.git("log", "-1", "--format=%s", "main")


@IN_ONE_LOOP
async def test_the_password_and_signing_key_arrive_only_through_load_credential(
    host: ServiceHost,
) -> None:
    pid = host.main_pid()
    environ = host.container.run(["cat", f"/proc/{pid}/environ"]).stdout
    assert host.password not in environ
    assert "CREDENTIALS_DIRECTORY=/run/credentials/opsbot.service" in environ
    uid = host.container.run(["stat", "-c", "%u", f"/proc/{pid}"]).stdout.strip()
    assert uid != "0"
    for secret in ("password", "signing_key"):
        source = f"/etc/opsbot/credentials/{secret}"
        assert host.container.run(["stat", "-c", "%u %a", source]).stdout.split() == ["0", "600"]
        as_the_bot = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "cat"]
        assert host.container.run([*as_the_bot, source], check=False).returncode != 0, secret
        copy = host.container.run(["cat", f"/run/credentials/opsbot.service/{secret}"]).stdout
        assert copy.strip() == host.container.path(source).read_text().strip()
    key = host.container.path("/etc/opsbot/credentials/signing_key").read_bytes()
    for path in host.state().rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert key not in path.read_bytes(), f"the signing key is copied into {path}"


def test_the_state_directory_belongs_to_the_dynamic_user(host: ServiceHost) -> None:
    uid = uid_of(host)
    assert uid != 0
    owners = {p.relative_to(host.state()): p.lstat().st_uid for p in host.state().rglob("*")}
    assert owners, "the state directory is empty"
    assert {path for path, owner in owners.items() if owner != uid} == set()
    assert host.state().stat().st_mode & 0o777 == 0o700


@IN_ONE_LOOP
async def test_the_sandbox_lets_the_bot_and_its_hooks_write_only_their_state_directory(
    host: ServiceHost, room: Room
) -> None:
    report = host.state("sandbox-probe")
    if not report.exists():
        await room.ask("!deploy web 1.0.1 to dev --reason probe")
        for _ in range(100):
            if report.exists():
                break
            await asyncio.sleep(0.2)
    lines = report.read_text().splitlines()
    written = {line.split()[1] for line in lines if line.startswith("written")}
    assert written == {"/var/lib/opsbot/probe", "/tmp/probe", "/var/tmp/probe"}, lines
    assert not host.container.path("/tmp/probe").exists()  # its /tmp is private
    assert f"uid {uid_of(host)}" in lines  # the hook ran as the bot's dynamic user


def uid_of(host: ServiceHost) -> int:
    return int(host.container.run(["stat", "-c", "%u", f"/proc/{host.main_pid()}"]).stdout)


def test_systemd_analyze_rates_the_unit_at_most_2(host: ServiceHost) -> None:
    out = host.container.run(["systemd-analyze", "security", "opsbot.service"], check=False)
    exposure = re.search(r"Overall exposure level for opsbot.service: ([\d.]+)", out.stdout)
    assert exposure is not None, out.stdout[-2000:]
    assert float(exposure.group(1)) <= 2.0, out.stdout[-2000:]


@IN_ONE_LOOP
async def test_a_stopped_bot_is_killed_by_the_watchdog_and_restarted(
    host: ServiceHost, room: Room
) -> None:
    before = host.main_pid()
    restarts = int(host.unit("NRestarts")["NRestarts"])
    host.container.sh(f"kill -STOP {before}")
    after = host.until_serving(after_pid=before, timeout=120)
    assert int(host.unit("NRestarts")["NRestarts"]) == restarts + 1
    journal = host.container.run(["journalctl", "-u", "opsbot.service", "--no-pager"]).stdout
    assert "Watchdog timeout" in journal
    assert after != before
    assert "admin" in await room.ask("!whoami")


@IN_ONE_LOOP
async def test_sigkill_in_the_middle_of_a_burst_loses_and_doubles_nothing(
    host: ServiceHost, room: Room
) -> None:
    commands = [f"!deploy api 2.0.{n} to dev --reason burst" for n in range(12)]
    events = [await room.alice.send(room.id, text) for text in commands[:6]]
    await asyncio.sleep(0.5)
    before = host.main_pid()
    host.container.sh(f"kill -KILL {before}")
    events += [await room.alice.send(room.id, text) for text in commands[6:]]
    host.until_serving(after_pid=before, timeout=120)
    for event in events:
        await room.alice.reply_to(event, timeout=120)
    await asyncio.sleep(3)  # a doubled answer would come now
    assert [len(room.alice.replies_to(event)) for event in events] == [1] * len(events)
    for event in events:
        trail = host.git("log", "--format=%H", "--fixed-strings", f"--grep={event}", "main")
        assert len(trail.split()) == 1, f"{event} was committed {len(trail.split())} times"


def test_the_bot_exits_cleanly_when_stopped(host: ServiceHost) -> None:
    host.container.run(["systemctl", "stop", "opsbot.service"])
    unit = host.unit("ActiveState", "Result", "ExecMainStatus")
    assert unit == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}
    host.container.run(["systemctl", "start", "opsbot.service"])
    host.until_serving()
