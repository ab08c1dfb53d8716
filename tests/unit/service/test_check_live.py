"""`opsbot check --config FILE --live`: one line per check, what to fix, and the exit code."""

import re
import socket
import subprocess
from pathlib import Path

import pytest

from bot import cli
from tests.helpers.bot import Bot
from tests.helpers.config import live_config

LINE = re.compile(r"(ok|warn|fail) [a-z]+: \S.*")


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    """The exit code, and each check's line by its name."""
    code = cli.main(["check", "--config", str(path), "--live"])
    lines = capsys.readouterr().out.splitlines()
    assert all(LINE.fullmatch(line) for line in lines), lines
    return code, {line.split()[1].rstrip(":"): line for line in lines}


def test_an_unreachable_homeserver_fails_and_says_what_to_check(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = check(live_config(bot, tmp_path), capsys)
    assert code == 1
    assert lines["login"].startswith("fail login: cannot reach http://127.0.0.1:9")
    assert lines["login"].endswith("- check [matrix] homeserver and the network")
    assert lines["repo"].startswith("ok repo: main at ")


def test_a_hooks_dir_others_may_write_to_is_a_warning(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = live_config(bot, tmp_path)
    (tmp_path / "hooks").chmod(0o777)
    _, lines = check(path, capsys)
    hooks = str(tmp_path / "hooks")
    assert (
        lines["hooks"] == f"warn hooks: writable by group or others: {hooks} - chmod go-w {hooks}"
    )


def test_a_signing_key_others_may_read_fails(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = live_config(bot, tmp_path)
    bot.paths.signing_key.chmod(0o644)
    code, lines = check(path, capsys)
    assert code == 1
    key = bot.paths.signing_key
    assert lines["keys"] == (
        f"fail keys: signing key {key} is mode 0644, readable by others - chmod 600 {key}"
    )


def test_a_port_held_by_another_program_fails_and_a_free_one_is_ok(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        path = live_config(bot, tmp_path, f'[http]\nlisten = "127.0.0.1:{port}"\n')
        _, lines = check(path, capsys)
        assert lines["listener"].startswith(f"fail listener: 127.0.0.1:{port} is in use by ")
        assert lines["listener"].endswith("- stop it, or change [http] listen")
    _, lines = check(path, capsys)
    assert lines["listener"] == f"ok listener: 127.0.0.1:{port} is free"


def test_each_mirror_is_reached_or_reported(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(bot.repo), str(mirror)], check=True)
    missing = tmp_path / "gone.git"
    path = live_config(bot, tmp_path, f'[mirrors]\nremotes = ["{mirror}", "{missing}"]\n')
    code = cli.main(["check", "--config", str(path), "--live"])
    out = capsys.readouterr().out
    assert f"ok mirror: {mirror} is reachable" in out.splitlines()
    assert f"warn mirror: {missing} is not reachable: " in out
    assert code == 1  # the homeserver, not the mirror


def test_unsigned_commits_on_main_are_a_warning_with_what_to_type(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pushed = bot.push({"apps/api.toml": 'description = "api"\n'}, "add api")
    _, lines = check(live_config(bot, tmp_path), capsys)
    assert lines["repo"].startswith("warn repo: 1 commit(s) on main opsbot did not write")
    assert lines["repo"].endswith(
        f"- an admin reviews them and types !adopt {pushed[:7]} or !discard"
    )
