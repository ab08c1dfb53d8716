"""An upgrade under systemd, as an operator does it: the previous release installed and set up by
its own README's service steps, used, then the new wheel installed over it and the service
restarted. The new release migrates what it must, and keeps everything."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.container import Container
from tests.helpers.paths import CHECKOUT
from tests.helpers.service_host import ServiceHost
from tests.systemd.conftest import PREVIOUS_RELEASE


@pytest.fixture
def old_host(
    tarball: Path,
    wheelhouse: Path,
    release_wheelhouse: Path,
    homeserver: Homeserver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServiceHost]:
    container = Container(tmp_path_factory.mktemp("containers"), tarball, "upgrade")
    try:
        container.boot(binds=[(wheelhouse, "/wheelhouse"), (release_wheelhouse, "/release")])
        service = ServiceHost.with_new_accounts(container, homeserver)
        service.install(wheelhouse="/release")
        readme = subprocess.run(
            ["git", "-C", str(CHECKOUT), "show", f"{PREVIOUS_RELEASE}:README.md"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        service.follow_readme(readme)
        yield service
    finally:
        container.stop()


async def test_an_upgraded_service_migrates_and_keeps_everything(
    old_host: ServiceHost, homeserver: Homeserver, tmp_path: Path
) -> None:
    host, run = old_host, old_host.container.run
    assert "0.3.0" in run(["/opt/opsbot/bin/pip", "show", "opsbot-matrix"]).stdout
    alice = Person(homeserver.base_url, host.admin, host.admin_password, tmp_path / "alice")
    await alice.login()
    try:
        room = await alice.create_room(invite=[host.bot])
        await alice.until_joined(room, host.bot, timeout=60)
        before = [
            await alice.send(room, "!deploy web 1.0.0 to dev --reason 'before the upgrade'"),
            await alice.send(room, "!freeze prod --reason 'release week'"),
        ]
        for event in before:
            await alice.reply_to(event, timeout=60)
        history = host.git("rev-list", "main").split()

        pip = ["/opt/opsbot/bin/pip", "install", "-q", "--disable-pip-version-check"]
        run([*pip, "--no-index", "--find-links", "/wheelhouse", "--upgrade", "opsbot-matrix"])
        run(["opsbot", "install-service"])
        run(["systemctl", "daemon-reload"])
        old_pid = host.main_pid()
        run(["systemctl", "restart", "opsbot.service"], timeout=180)
        host.until_serving(after_pid=old_pid)

        assert "0.4.0" in run(["/opt/opsbot/bin/pip", "show", "opsbot-matrix"]).stdout
        kept = set(host.git("rev-list", "main").split())
        assert set(history) <= kept, "the upgrade lost commits"
        assert host.state("in_force").exists(), "the 0.3.0 -> 0.4.0 migration did not run"
        status = await alice.reply_to(await alice.send(room, "!status"), timeout=60)
        assert "prod" in status["body"] and "frozen" in status["body"], status["body"]
        assert "web" in status["body"] and "1.0.0" in status["body"], status["body"]
        for event in before:
            assert len(alice.replies_to(event)) == 1, "a command was answered again"
        log = run(["journalctl", "-u", "opsbot.service", "--no-pager", "-o", "cat"]).stdout
        assert "Traceback" not in log, log[-3000:]
    finally:
        await alice.close()
