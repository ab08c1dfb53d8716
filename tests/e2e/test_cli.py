"""The `opsbot` command line, run as a person would run it, read back with git."""

import subprocess
from pathlib import Path

import pytest

from tests.helpers.cli import opsbot
from tests.helpers.git import git

ALICE = "@alice:example.org"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    result = opsbot("init", str(tmp_path / "state"), "--admin", ALICE)
    assert result.returncode == 0, result.stderr
    return tmp_path / "state"


def test_init_makes_a_bare_repo_with_one_signed_commit_naming_the_admin(state: Path) -> None:
    assert git(state, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(state, "rev-list", "--count", "main").strip() == "1"
    assert f'members = ["{ALICE}"]' in git(state, "show", "main:policy.toml")
    verified = subprocess.run(
        ["git", "-C", str(state), "verify-commit", "HEAD"], capture_output=True, text=True
    )
    assert verified.returncode == 0
    assert 'Good "git" signature for @opsbot:localhost' in verified.stderr


def test_init_refuses_a_directory_that_is_not_empty(state: Path) -> None:
    result = opsbot("init", str(state), "--admin", ALICE)
    assert result.returncode == 2
    assert "not empty" in result.stderr


def test_shell_reads_commands_from_stdin_and_commits_them(state: Path) -> None:
    script = "\n".join(
        [
            '!deploy web 1.4.2 to staging --reason "new login page"',
            "!freeze prod for 2h",
            "!deploy web 1.4.2 to prod",
        ]
    )
    result = opsbot("shell", "--repo", str(state), "--as", ALICE, stdin=script)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("deploy: web 1.4.2 to staging · commit ")
    assert lines[1].startswith("freeze: prod until ")
    assert lines[2].startswith("refused: prod is frozen until ")
    assert result.returncode == 1  # scripted use: a refused command fails the script
    log = git(state, "log", "--format=%an <%ae> | %s").splitlines()
    assert log[1] == f"alice <{ALICE}> | deploy: web 1.4.2 to staging"


def test_shell_exits_zero_when_every_command_succeeds(state: Path) -> None:
    result = opsbot("shell", "--repo", str(state), "--as", ALICE, stdin="!status\n# a comment\n\n")
    assert result.returncode == 0, result.stdout


def test_check_passes_on_a_fresh_repo(state: Path) -> None:
    result = opsbot("check", "--repo", str(state))
    assert (result.returncode, result.stdout) == (0, "ok\n")


def test_check_lists_every_problem_and_fails(state: Path, tmp_path: Path) -> None:
    config = tmp_path / "opsbot.toml"
    config.write_text(
        f'[paths]\nrepo = "{state}"\nstat_dir = "/var/lib/opsbot"\n[matrix]\nuser_id = "opsbot"\n'
    )
    result = opsbot("check", "--config", str(config))
    assert result.returncode == 1
    out = result.stdout
    assert f"{config}:3: [paths] stat_dir: unknown key" in out
    assert f"{config}: [paths] state_dir: missing" in out
    assert f"{config}:5: [matrix] user_id: 'opsbot' is not a Matrix user id" in out
    assert f"{config}: [matrix] homeserver: missing" in out


def test_reindex_rebuilds_the_index_from_history(state: Path) -> None:
    opsbot("shell", "--repo", str(state), "--as", ALICE, stdin="!deploy web 1.0.0 to dev\n")
    result = opsbot("reindex", "--repo", str(state))
    assert result.returncode == 0
    assert result.stdout.startswith("indexed 2 commits")
    history = opsbot("shell", "--repo", str(state), "--as", ALICE, stdin="!history web -n 1\n")
    assert history.stdout.rstrip().endswith("deploy: web 1.0.0 to dev")


def test_verify_accepts_opsbot_commits_and_names_a_foreign_one(state: Path, tmp_path: Path) -> None:
    opsbot("shell", "--repo", str(state), "--as", ALICE, stdin="!deploy web 1.0.0 to dev\n")
    ok = opsbot("verify", "--repo", str(state))
    assert ok.returncode == 0
    assert ok.stdout.startswith("2 of 2 commits signed by a key in ")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(state), str(clone)], check=True)
    (clone / "README.md").write_text("changed by hand\n")
    git(
        clone,
        "-c",
        "user.name=Eve",
        "-c",
        "user.email=eve@example.org",
        "commit",
        "-qam",
        "unsigned",
    )
    git(clone, "push", "-q", "origin", "HEAD:main")
    bad = opsbot("verify", "--repo", str(state))
    assert bad.returncode == 1
    assert "unsigned or bad signature: " in bad.stdout


def test_keygen_writes_a_private_key_and_prints_the_allowed_signers_line(tmp_path: Path) -> None:
    result = opsbot("keygen", "--out", str(tmp_path / "key"), "--principal", "@opsbot:example.org")
    assert result.returncode == 0
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    assert result.stdout.splitlines()[-1].startswith(
        '@opsbot:example.org namespaces="git" ssh-ed25519 '
    )
    again = opsbot("keygen", "--out", str(tmp_path / "key"))
    assert again.returncode == 2
