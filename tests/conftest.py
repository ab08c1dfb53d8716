"""Fixtures every test may use, and they build real things: a real bare repo from the template
and the real engine on it, read back with the real `git` CLI. (The real Synapse and the people
on it are in matrix/conftest.py.)"""

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.config import HostPaths
from bot.service.assemble import init_repo, open_engine
from tests.helpers.bot import ALICE, BOB, Bot, Clock


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
