"""Fixtures every test may use, and they build real things: a real bare repo from the template
and the real engine on it, read back with the real `git` CLI. (The real Synapse and the people
on it are in matrix/conftest.py.)"""

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from tests.helpers.bot import ALICE, BOB, Bot, Clock

SYSTEMD_TIER = Path(__file__).parent / "systemd"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--systemd",
        action="store_true",
        help="run the systemd tier (tests/systemd), as scripts/test-systemd does",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The systemd tier boots containers: only scripts/test-systemd asks for it."""
    if collection_path == SYSTEMD_TIER and not config.getoption("--systemd"):
        return True
    return None


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
