"""opsbot under a real systemd: installed from its wheel, set up by following the README's
service steps as written, then asked what an operator relies on. The tests of this file follow
one host through its life, in order."""

import asyncio
import json
import re
import shlex
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from bot.cli.docs import README
from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.container import Container
from tests.helpers.service_host import CONFIG, ServiceHost

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
        service = ServiceHost.with_new_accounts(container, homeserver)
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
        homeserver.base_url, host.admin, host.admin_password, tmp_path_factory.mktemp("alice")
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
    host.container.signal(before, "STOP")
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
    host.container.signal(before, "KILL")
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


@IN_ONE_LOOP
async def test_a_backup_restored_on_a_second_host_brings_the_same_bot_back(
    host: ServiceHost,
    room: Room,
    tarball: Path,
    wheelhouse: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The README's disaster recovery: a backup and a mirror taken while the bot runs on host A;
    host A lost; host B installed, restored and started, answering as the same device."""
    a = host.container
    for line in readme_safe_directory():
        a.run(line)
    a.run(["opsbot", "backup", "--config", CONFIG, "--to", "/srv/backup/opsbot-1"])
    a.run(["git", "clone", "-q", "--mirror", "/var/lib/opsbot/state.git", "/srv/backup/state.git"])
    manifest = json.loads(a.path("/srv/backup/opsbot-1/manifest.json").read_text())
    assert any("signing_key" in name for name in json.dumps(manifest).split('"')), manifest
    main = host.git("rev-parse", "main").strip()
    device = host.state("matrix/credentials.json").read_text()
    a.run(["systemctl", "stop", "opsbot.service"])  # host A is lost

    b = Container(tmp_path_factory.mktemp("containers"), tarball, "second")
    try:
        b.boot(binds=[(wheelhouse, "/wheelhouse")])
        second = ServiceHost(
            b, homeserver=host.homeserver, bot=host.bot, admin=host.admin, password=host.password
        )
        second.install()
        b.run(["opsbot", "install-service"])
        for moved in ("/etc/opsbot/opsbot.toml", "/etc/opsbot/credentials", "/srv/backup"):
            carry(a, b, moved)
        b.run(
            ["git", "clone", "-q", "--mirror", "/srv/backup/state.git", "/var/lib/opsbot/state.git"]
        )
        b.run(["opsbot", "restore", "--config", CONFIG, "--from", "/srv/backup/opsbot-1"])
        b.run(["opsbot", "check", "--config", CONFIG, "--live"])
        b.run(["systemctl", "enable", "--now", "opsbot.service"], timeout=180)
        second.until_serving()

        assert second.git("rev-parse", "main").strip() == main
        assert second.state("matrix/credentials.json").read_text() == device
        answer = await room.ask("!deploy web 3.0.0 to dev --reason 'after the restore'")
        assert answer.startswith("deploy: web 3.0.0 to dev"), answer
        for line in readme_safe_directory():
            b.run(line)
        b.run(["git", "-C", "/var/lib/opsbot/state.git", "verify-commit", "main"])
    finally:
        b.stop()


def carry(a: Container, b: Container, path: str) -> None:
    """A file or directory of host A, copied to the same place on host B, as an operator
    carries a backup and the secrets over."""
    b.run(["rm", "-rf", path])
    if a.path(path).is_dir():
        shutil.copytree(a.path(path), b.path(path), symlinks=True)
    else:
        shutil.copy2(a.path(path), b.path(path))


def readme_safe_directory() -> list[list[str]]:
    """The README's lines that let root's git read the service's repo, as they are written."""
    text = " ".join(README.read_text().split())
    lines = re.findall(r"`(git config --global --add safe.directory [^`]+)`", text)
    assert lines, "the README no longer says how root's git may read the repo"
    return [shlex.split(line) for line in lines]
