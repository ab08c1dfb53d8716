"""What a new operator following the README runs into: each is refused with a clear line and
the exit status a service manager understands (2: the configuration is wrong), never a
traceback, and nothing is written."""

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.effects import Job
from bot.transport import console
from tests.helpers.cli import opsbot

ALICE = "@alice:example.org"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    repo = tmp_path / "state.git"
    result = opsbot("init", str(repo), "--admin", "@alice:example.org")
    assert result.returncode == 0, result.stderr
    return repo


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("latin-1", "# café\n[paths]\n".encode("latin-1")),
        ("utf-16", "[paths]\n".encode("utf-16")),
    ],
)
def test_a_host_config_that_is_not_utf8_is_a_config_error_not_a_crash(
    tmp_path: Path, name: str, data: bytes
) -> None:
    config = tmp_path / f"{name}.toml"
    config.write_bytes(data)
    result = opsbot("run", "--config", str(config))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{config}: not UTF-8 text" in result.stderr and "save it as UTF-8" in result.stderr


def test_check_names_a_missing_matrix_section_that_run_would_refuse(
    state: Path, tmp_path: Path
) -> None:
    config = tmp_path / "opsbot.toml"
    config.write_text(f'[paths]\nrepo = "{state}"\nstate_dir = "{tmp_path}/state"\n')
    result = opsbot("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: [matrix]: missing: opsbot run needs the homeserver" in result.stdout


def test_init_with_a_file_for_its_state_directory_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    result = opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--admin",
        "@alice:example.org",
        "--state-dir",
        str(taken),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{taken} is a file, not a directory" in result.stderr
    assert not (tmp_path / "state.git").exists() and taken.read_text() == "mine\n"


def test_the_console_refuses_a_name_that_is_not_a_matrix_id(state: Path) -> None:
    result = opsbot("shell", "--repo", str(state), "--as", "alice", stdin="!help\n")
    assert result.returncode == 2
    assert "'alice' is not a Matrix id like @alice:example.org" in result.stderr


def test_the_console_piped_into_head_ends_quietly(state: Path) -> None:
    command = [sys.executable, "-m", "bot.cli", "shell", "--repo", str(state), "--as", ALICE]
    shell = subprocess.Popen(
        f"{shlex.join(command)} | head -1",
        shell=True,
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    _, err = shell.communicate("!help\n" * 50, timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err


def test_install_service_under_a_prefix_names_the_files_where_it_put_them(
    tmp_path: Path,
) -> None:
    result = opsbot("install-service", "--prefix", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "etc/opsbot/opsbot.toml").is_file()
    assert f"editor {tmp_path}/etc/opsbot/opsbot.toml" in result.stdout
    assert f"/dev/stdin {tmp_path}/etc/opsbot/credentials/password" in result.stdout
    assert " /etc/opsbot/" not in result.stdout


def test_the_console_says_a_job_is_the_service_s_to_run() -> None:
    assert console.owed(Job("runbooks", {"id": "3f9a2c1b"})) == (
        "a job for the runbooks worker, which the service runs; the console does not"
    )


def test_the_console_keeps_the_log_off_the_terminal(state: Path) -> None:
    result = opsbot("shell", "--repo", str(state), "--as", ALICE, stdin="!freeze dev\n")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("freeze: dev until unfrozen · commit ")
    assert "msg=committed" not in result.stderr


def test_opsbot_alone_prints_its_help() -> None:
    result = opsbot()
    assert result.returncode == 0
    assert result.stdout.startswith("usage: opsbot ") and "install-service" in result.stdout


def test_restore_from_a_directory_that_is_not_there_says_so(state: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-backup"
    result = opsbot("restore", "--repo", str(state), "--from", str(missing))
    assert result.returncode == 2
    assert f"{missing}: no such directory; give the backup's directory" in result.stderr


def test_the_console_at_a_terminal_edits_lines_and_ends_on_ctrl_d(state: Path) -> None:
    """At a terminal the prompt reads with line editing (readline); Ctrl-D ends it cleanly."""
    command = [sys.executable, "-m", "bot.cli", "shell", "--repo", str(state), "--as", ALICE]
    shell = subprocess.run(
        ["script", "-qec", shlex.join(command), "/dev/null"],
        input="!freeze dev\n\x04",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stdout
    assert "> " in shell.stdout and "freeze: dev until unfrozen" in shell.stdout
    assert "Traceback" not in shell.stdout


def test_verify_given_a_public_key_file_says_what_an_allowed_signers_file_is(
    state: Path, tmp_path: Path
) -> None:
    key = tmp_path / "key"
    made = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], capture_output=True
    )
    assert made.returncode == 0
    result = opsbot("verify", "--repo", str(state), "--allowed-signers", f"{key}.pub")
    assert result.returncode == 2
    assert f"{key}.pub is a public key, not an allowed-signers file" in result.stderr


def test_check_says_when_a_moved_repo_s_config_names_a_signers_file_no_longer_there(
    state: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "moved.git"
    state.rename(moved)
    (tmp_path / "state.git.opsbot").rename(tmp_path / "moved.git.opsbot")
    result = opsbot("check", "--repo", str(moved))
    assert result.returncode == 1
    old = tmp_path / "state.git.opsbot/allowed_signers"
    assert f"{moved}: gpg.ssh.allowedSignersFile names {old}, which is not there" in result.stdout
