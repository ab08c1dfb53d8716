"""The host the runbook tests share: bob on call, and the runbook `hello` with its program."""

from pathlib import Path

import pytest

from tests.helpers.bot import Bot
from tests.helpers.host import ECHO, Host
from tests.helpers.policies import RUNBOOK_POLICY


@pytest.fixture
def host(bot: Bot, tmp_path: Path) -> Host:
    bot.edit("policy.toml", RUNBOOK_POLICY)
    made = Host(bot, tmp_path)
    made.program("hello", 'echo "hello, $1"\n')
    made.runbook("hello", ECHO)
    return made
