"""Fixtures that build real things: a real bare repo from the template, the real engine, and the
real `git` CLI to read it back; a real Synapse, the people on it and the bot as a process."""

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from devtools.devserver import Homeserver
from tests.helpers.bot import ALICE, BOB, Bot, Clock
from tests.helpers.element import installed
from tests.helpers.paths import JS

if TYPE_CHECKING:
    from devtools.devclient import Person
    from tests.helpers.matrix import BotProcess


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_bot(tmp_path: Path, clock: Clock) -> Callable[..., Bot]:
    def make(name: str = "state", admins: tuple[str, ...] = (ALICE,)) -> Bot:
        paths = HostPaths.beside(tmp_path / name)
        init_repo(paths, admins=list(admins))
        engine = open_engine(paths, clock=clock)
        return Bot(paths, engine, clock)

    return make


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot()


DEPLOYER_POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}"]
commands = ["deploy", "rollback"]
environments = ["dev", "staging"]

[roles.everyone]
members = ["*"]
commands = ["help", "whoami", "status", "history", "show"]
"""


@pytest.fixture
def with_deployer(bot: Bot) -> Bot:
    bot.edit("policy.toml", DEPLOYER_POLICY)
    return bot


@pytest.fixture(scope="session")
def homeserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homeserver]:
    """One real Synapse on 127.0.0.1 for the whole session, started only if a test needs it."""
    with Homeserver(tmp_path_factory.mktemp("homeserver")) as server:
        yield server


# People and the bot on the real homeserver, for the Matrix tests. Imported here, not at the top:
# the harness pulls in the Matrix client, which most tests never need.


@pytest.fixture
async def alice(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator["Person"]:
    from tests.helpers.matrix import person

    someone = await person(homeserver, tmp_path / "people", "alice")
    yield someone
    await someone.close()


@pytest.fixture
async def bob(homeserver: Homeserver, tmp_path: Path) -> AsyncIterator["Person"]:
    from tests.helpers.matrix import person

    someone = await person(homeserver, tmp_path / "people", "bob")
    yield someone
    await someone.close()


@pytest.fixture
def opsbot(homeserver: Homeserver, tmp_path: Path, alice: "Person") -> Iterator["BotProcess"]:
    """The bot as a process, alice its admin; not started (tests start it as they need)."""
    from tests.helpers.matrix import BotProcess

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
