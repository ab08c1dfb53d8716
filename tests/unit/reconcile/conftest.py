"""The host the reconciler tests share: the bot, and the template's apps' deploy hooks."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.bot import Bot
from tests.helpers.host import Host


@pytest.fixture
def host(bot: Bot, tmp_path: Path) -> Iterator[Host]:
    made = Host(bot, tmp_path)
    # The template's apps: web deploys with deploy-web, api with deploy-container.
    made.hook("deploy-web")
    made.hook("deploy-container")
    yield made
    made.close()
