"""The command line as an operator meets it on a fresh host: the state directory does not exist
yet, the signing key is a credential kept elsewhere, paths are mistyped, the homeserver is down.
Each mistake ends in one line that says what is wrong and what to do, never a traceback, and no
command ever gives an existing repo a signing key it did not have."""

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import opsbot
from tests.helpers.git import git

ALICE = "@alice:example.org"
BOT = "@opsbot:example.org"


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error a command ended with, checked to be a single line with no traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A repo made as the service steps make it: the key a credential, the state dir new."""
    key = tmp_path / "credentials" / "signing_key"
    made = opsbot("keygen", "--out", str(key), "--principal", BOT)
    assert made.returncode == 0, made.stderr
    result = opsbot(
        "init",
        str(tmp_path / "lib/state.git"),
        "--state-dir",
        str(tmp_path / "lib/opsbot"),
        "--key",
        str(key),
        "--bot",
        BOT,
        "--admin",
        ALICE,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_init_makes_a_state_dir_that_does_not_exist_yet_and_names_the_key_it_used(
    host: Path,
) -> None:
    state_dir = host / "lib/opsbot"
    assert state_dir.stat().st_mode & 0o777 == 0o700
    assert (state_dir / "allowed_signers").is_file()
    assert not (state_dir / "signing_key").exists()  # the credential is read, never copied
    verified = subprocess.run(
        ["git", "-C", str(host / "lib/state.git"), "verify-commit", "HEAD"],
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )
    assert verified.returncode == 0, verified.stderr


def test_init_says_where_the_signing_key_really_is(tmp_path: Path) -> None:
    key = tmp_path / "credentials" / "signing_key"
    opsbot("keygen", "--out", str(key))
    result = opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--state-dir",
        str(tmp_path / "new"),
        "--key",
        str(key),
        "--admin",
        ALICE,
    )
    assert f"signing key: {key}" in result.stdout.splitlines()
    assert f"--key {key}" in result.stdout  # in the next step it prints


def test_init_with_a_key_that_is_not_there_makes_nothing(tmp_path: Path) -> None:
    result = opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--state-dir",
        str(tmp_path / "state"),
        "--key",
        str(tmp_path / "nokey"),
        "--admin",
        ALICE,
    )
    assert result.returncode == 2
    assert "opsbot keygen --out" in one_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_init_on_an_existing_repo_leaves_its_keys_alone(host: Path) -> None:
    signers = (host / "lib/opsbot/allowed_signers").read_text()
    result = opsbot(
        "init",
        str(host / "lib/state.git"),
        "--state-dir",
        str(host / "lib/opsbot"),
        "--admin",
        ALICE,
    )
    assert result.returncode == 2
    assert "not empty" in one_line(result)
    assert not (host / "lib/opsbot/signing_key").exists()
    assert (host / "lib/opsbot/allowed_signers").read_text() == signers


def test_shell_without_the_key_refuses_and_never_makes_one(host: Path) -> None:
    signers = (host / "lib/opsbot/allowed_signers").read_text()
    result = opsbot(
        "shell",
        "--repo",
        str(host / "lib/state.git"),
        "--state-dir",
        str(host / "lib/opsbot"),
        "--as",
        ALICE,
        stdin="!freeze prod\n",
    )
    assert result.returncode == 2
    assert "--key FILE" in one_line(result)
    assert not (host / "lib/opsbot/signing_key").exists()
    assert (host / "lib/opsbot/allowed_signers").read_text() == signers
    assert git(host / "lib/state.git", "rev-list", "--count", "main").strip() == "1"


def test_shell_with_the_key_commits_and_every_commit_still_verifies(host: Path) -> None:
    repo = host / "lib/state.git"
    result = opsbot(
        "shell",
        "--repo",
        str(repo),
        "--state-dir",
        str(host / "lib/opsbot"),
        "--key",
        str(host / "credentials/signing_key"),
        "--as",
        ALICE,
        stdin="!freeze prod\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for commit in git(repo, "rev-list", "main").split():
        git(repo, "verify-commit", commit)  # raises if one does not verify


def test_shell_refuses_a_key_that_is_not_an_allowed_signer(host: Path) -> None:
    signers = (host / "lib/opsbot/allowed_signers").read_text()
    opsbot("keygen", "--out", str(host / "other_key"))
    result = opsbot(
        "shell",
        "--repo",
        str(host / "lib/state.git"),
        "--state-dir",
        str(host / "lib/opsbot"),
        "--key",
        str(host / "other_key"),
        "--as",
        ALICE,
        stdin="!freeze prod\n",
    )
    assert result.returncode == 2
    assert "not an allowed signer" in one_line(result)
    assert (host / "lib/opsbot/allowed_signers").read_text() == signers


def test_verify_needs_only_the_public_keys(host: Path, tmp_path: Path) -> None:
    """A reviewer's copy: a clone of the repo and the allowed-signers file, no secret at all."""
    review = tmp_path / "review"
    review.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(host / "lib/state.git"), str(review / "state.git")],
        check=True,
    )
    signers = review / "allowed_signers"
    signers.write_text((host / "lib/opsbot/allowed_signers").read_text())
    result = opsbot(
        "verify", "--repo", str(review / "state.git"), "--allowed-signers", str(signers)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"1 of 1 commits signed by a key in {signers}\n"


def test_verify_without_an_allowed_signers_file_says_how_to_give_one(host: Path) -> None:
    result = opsbot("verify", "--repo", str(host / "lib/state.git"))  # no --state-dir
    assert result.returncode == 2
    assert "--allowed-signers FILE" in one_line(result)


@pytest.mark.parametrize(
    "command",
    [
        ["reindex", "--repo", "./missing"],
        ["shell", "--repo", "./missing", "--as", ALICE],
        ["verify", "--repo", "./missing"],
    ],
    ids=["reindex", "shell", "verify"],
)
def test_a_missing_repo_is_one_line_saying_how_to_make_it(
    command: list[str], tmp_path: Path
) -> None:
    result = opsbot(*command, cwd=tmp_path)
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"opsbot {command[0]}: no state repo at {tmp_path / 'missing'}")
    assert "opsbot init" in line
    assert not (tmp_path / "missing").exists()


def test_a_directory_that_is_not_a_repo_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    result = opsbot("reindex", "--repo", str(tmp_path / "notes"))
    assert result.returncode == 2
    assert "is not a state repo" in one_line(result)


def test_init_refuses_a_missing_template(tmp_path: Path) -> None:
    result = opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--admin",
        ALICE,
        "--template",
        str(tmp_path / "no-template"),
    )
    assert result.returncode == 2
    assert "template is missing" in one_line(result)
    assert not (tmp_path / "state.git").exists()


def test_init_refuses_an_empty_template(tmp_path: Path) -> None:
    (tmp_path / "template").mkdir()
    result = opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--admin",
        ALICE,
        "--template",
        str(tmp_path / "template"),
    )
    assert result.returncode == 2
    assert "template is empty" in one_line(result)
    assert not (tmp_path / "state.git").exists()
    assert not (tmp_path / "state.git.opsbot").exists()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_against_an_unreachable_homeserver_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("secret\n")
    opsbot(
        "init",
        str(tmp_path / "state.git"),
        "--state-dir",
        str(tmp_path / "state"),
        "--bot",
        BOT,
        "--admin",
        ALICE,
    )
    config = tmp_path / "opsbot.toml"
    config.write_text(
        f'[matrix]\nhomeserver = "http://127.0.0.1:{closed_port()}"\nuser_id = "{BOT}"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\nrepo = "{tmp_path / "state.git"}"\n'
        f'hooks_dir = "{tmp_path / "hooks"}"\n'
    )
    result = opsbot("run", "--config", str(config))
    assert result.returncode == 1  # a failed login: systemd restarts it (Restart=on-failure)
    line = one_line(result)
    assert "cannot reach the homeserver at http://127.0.0.1:" in line
    assert "[matrix] homeserver" in line
    assert "Unclosed client session" not in result.stderr
