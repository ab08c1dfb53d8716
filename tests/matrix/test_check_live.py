"""`opsbot check --live` against the real homeserver: the bot's saved session logs in as its own
device."""

import pytest

from bot import cli
from tests.helpers.matrix import BotProcess


def test_the_bot_s_saved_session_logs_in_as_its_own_device(
    opsbot: BotProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    opsbot.start()
    device = next(f["device"] for f in opsbot.facts() if f.get("msg") == "started")
    (opsbot.root / "password").chmod(0o600)  # the harness's is 0644, which `keys` fails
    code = cli.main(["check", "--config", str(opsbot.config), "--live"])
    out = capsys.readouterr().out
    assert f"ok login: logged in as {opsbot.user_id}, device {device}" in out.splitlines()
    listener = [line for line in out.splitlines() if " listener:" in line]
    assert listener == ["ok listener: no [http] section: nothing to listen on"]
    assert code == 0, out
