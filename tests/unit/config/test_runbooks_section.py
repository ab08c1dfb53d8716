"""[runbooks] in the host config: secrets by name, each a file; a bad entry names itself."""

from pathlib import Path

import pytest

from bot.config import ConfigError, load
from bot.features.catalog import sections
from bot.features.runbooks.settings import RUNBOOKS

BASE = '[paths]\nstate_dir = "/var/lib/opsbot"\nrepo = "/var/lib/opsbot/state.git"\n'


def test_secrets_are_files_named_by_the_host(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(BASE + '[runbooks]\nsecrets = { api_token = "/run/credentials/x/api" }\n')
    assert load(path, sections()).section(RUNBOOKS).secrets == {
        "api_token": Path("/run/credentials/x/api")
    }


def test_a_secret_that_is_not_a_file_path_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "opsbot.toml"
    path.write_text(BASE + '[runbooks]\nsecrets = { api_token = "hunter2" }\n')
    with pytest.raises(ConfigError) as caught:
        load(path, sections())
    assert (
        "[runbooks] secrets: api_token: must be the absolute path of a file" in caught.value.message
    )
    assert "hunter2" not in caught.value.message  # a secret put there by mistake is not echoed
