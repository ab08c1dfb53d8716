"""The Matrix integration tests: each talks to a real Synapse on 127.0.0.1, so each is marked
`matrix` (`-m matrix` runs them alone, `-m "not matrix"` leaves them out). Here too: the
homeserver, the people on it, the bot as a process, and the Element-stack client."""

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devtools.devclient import Person
from devtools.devserver import Homeserver
from tests.helpers.element import installed
from tests.helpers.matrix import BotProcess, person
from tests.helpers.paths import JS

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.matrix)


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """One real Synapse on 127.0.0.1 for the whole session (for each worker process, when
    scripts/test spreads the tests over several), started only if a test needs it."""
    with Homeserver(tmp_path_factory.mktemp("homeserver")) as server:
        yield server


@pytest.fixture
async def alice(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[Person]:
    someone = await person(homeserver, tmp_path / "people", "alice")
    yield someone
    await someone.close()


@pytest.fixture
async def bob(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator[Person]:
    someone = await person(homeserver, tmp_path / "people", "bob")
    yield someone
    await someone.close()


@pytest.fixture
def opsbot(homeserver: Homeserver, tmp_path: Path, alice: Person) -> Iterator[BotProcess]:
    """The bot as a process, alice its admin; not started (tests start it as they need)."""
    bot = BotProcess(homeserver, tmp_path / "bot", admins=[alice.user_id])
    yield bot
    if bot.process and bot.process.poll() is None:
        bot.stop()


@pytest.fixture(scope="session")
def node() -> str:
    """The Node binary for the Element-stack client, with tests/js installed (scripts/test
    installs it; here too, for a bare pytest run). Skips, saying why, when it cannot be."""
    if not installed():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip(
                "npm is not installed: the Element-stack client (tests/js) cannot be set up"
            )
        done = subprocess.run(
            [npm, "ci", "--prefix", str(JS), "--no-audit", "--no-fund", "--prefer-offline"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"npm ci in tests/js failed (offline?): {last}")
    # The `node` package in tests/js brings the Node version matrix-js-sdk asks for.
    pinned = JS / "node_modules" / ".bin" / "node"
    binary = str(pinned) if pinned.exists() else shutil.which("node")
    if binary is None:
        pytest.skip("node is not installed: the Element-stack client (tests/js) cannot run")
    return binary
