"""`opsbot backup` and `opsbot restore` on the console path: what comes back, and what is refused.
(End to end on the real homeserver: tests/matrix/test_restore.py.)"""

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import cli
from bot.config import HostPaths
from bot.engine.services import Services
from bot.features.runbooks.executor import Executor
from bot.features.runbooks.journal import RunbookJournal
from bot.features.runbooks.record import record
from bot.service.assemble import open_engine
from tests.helpers.bot import Bot
from tests.helpers.git import git
from tests.helpers.runs import a_job


def backup(bot: Bot, to: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["backup", "--repo", str(bot.repo), "--to", str(to)]) == 0
    capsys.readouterr()


def clone(bot: Bot, host: Path) -> HostPaths:
    """Host B: a directory of its own and a clone of the state repo, as from a mirror."""
    host.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--mirror", str(bot.repo), str(host / "state")], check=True
    )
    return HostPaths.beside(host / "state")


def restore(paths: HostPaths, source: Path, *extra: str) -> int:
    return cli.main(["restore", "--repo", str(paths.repo), "--from", str(source), *extra])


def test_restore_brings_back_the_keys_and_what_was_done(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done = bot.say("!deploy web 1.4.2 to staging", event_id="$done-before-the-backup")
    backup(bot, tmp_path / "backup", capsys)
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 0
    assert "restored" in capsys.readouterr().out
    assert b.signing_key.read_bytes() == bot.paths.signing_key.read_bytes()
    assert b.allowed_signers.read_bytes() == bot.paths.allowed_signers.read_bytes()
    assert oct(b.signing_key.stat().st_mode & 0o777) == "0o600"
    on_b = Bot(b, open_engine(b), bot.clock)
    again = on_b.say("!deploy web 1.4.2 to staging", event_id="$done-before-the-backup")
    assert again.commit == done.commit
    assert cli.main(["verify", "--repo", str(b.repo)]) == 0
    git(b.repo, "verify-commit", "main")  # the clone was configured as init configures a repo


def test_a_command_committed_after_the_backup_is_not_run_again_after_the_restore(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup(bot, tmp_path / "backup", capsys)
    late = bot.say("!freeze prod --reason late", event_id="$after-the-backup")
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 0
    assert "remembered 1 command(s) committed after the backup" in capsys.readouterr().out
    on_b = Bot(b, open_engine(b), bot.clock)
    head = on_b.head()
    again = on_b.say("!freeze prod --reason late", event_id="$after-the-backup")
    assert again.ok and again.commit == late.commit
    assert on_b.head() == head


def test_a_backup_reads_a_journal_as_last_committed_while_it_is_being_written(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = sqlite3.connect(bot.paths.outbox, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO handled VALUES ('$half-done', 'abc', 0)")
    backup(bot, tmp_path / "backup", capsys)  # while the write is open
    writer.execute("ROLLBACK")
    copy = sqlite3.connect(tmp_path / "backup/state/outbox.sqlite")
    rows = copy.execute("SELECT invocation FROM handled").fetchall()
    assert ("$half-done",) not in rows
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_backup_cut_short_has_no_manifest_and_is_refused(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup(bot, tmp_path / "backup", capsys)
    (tmp_path / "backup/manifest.json").unlink()  # what a kill before the last step leaves
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 2
    assert "no manifest.json: not a complete backup" in capsys.readouterr().err
    assert not b.state_dir.exists()


def test_a_damaged_backup_is_refused(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup(bot, tmp_path / "backup", capsys)
    (tmp_path / "backup/state/allowed_signers").write_text("ssh-ed25519 AAAA mallory\n")
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 2
    assert "allowed_signers does not match its checksum" in capsys.readouterr().err


def test_a_backup_of_another_repo_is_refused(
    make_bot: Callable[..., Bot], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours, theirs = make_bot("ours"), make_bot("theirs")
    backup(theirs, tmp_path / "backup", capsys)
    b = clone(ours, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 2
    assert "the backup is of another state repo" in capsys.readouterr().err


def test_a_backup_of_another_bot_is_refused(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup(bot, tmp_path / "backup", capsys)
    manifest = tmp_path / "backup/manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "bot_id": "@other:x.org"}))
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 2
    assert "the backup is of @other:x.org" in capsys.readouterr().err


def test_a_state_dir_with_files_is_replaced_only_when_told(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup(bot, tmp_path / "backup", capsys)
    b = clone(bot, tmp_path / "b")
    b.state_dir.mkdir()
    (b.state_dir / "signing_key").write_text("another key")
    assert restore(b, tmp_path / "backup") == 2
    assert "is not empty (signing_key and 0 more)" in capsys.readouterr().err
    assert restore(b, tmp_path / "backup", "--force") == 0
    assert b.signing_key.read_bytes() == bot.paths.signing_key.read_bytes()


def test_a_repo_inside_the_state_dir_is_left_to_git(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.service.assemble import init_repo

    paths = HostPaths(tmp_path / "var/state.git", tmp_path / "var")
    init_repo(paths, admins=["@alice:example.org"])
    code = cli.main(
        [
            "backup",
            "--repo",
            str(paths.repo),
            "--state-dir",
            str(paths.state_dir),
            "--to",
            str(tmp_path / "backup"),
        ]
    )
    assert code == 0
    capsys.readouterr()
    names = [
        e["path"] for e in json.loads((tmp_path / "backup/manifest.json").read_text())["files"]
    ]
    assert names and not [n for n in names if "state.git" in n]


def a_run(bot: Bot, run_id: str) -> str:
    """A run as the executor leaves it: in runs.sqlite, its output on the host, recorded in Git."""
    job = a_job(run_id, f"${run_id}")
    result = {"status": "ok", "exit_code": 0, "duration": 0.1, "size": 6, "sha256": "x"}
    journal = RunbookJournal(bot.paths.state_dir / "runs.sqlite")
    journal.add(job)
    journal.started(run_id)
    journal.ended(run_id, result)
    (bot.paths.state_dir / "runs").mkdir(exist_ok=True)
    (bot.paths.state_dir / "runs" / f"run-{run_id}.txt").write_text("disk ok\n")
    journal.recorded(run_id, record(bot.engine.repo, job, result, "disk ok\n"))
    journal.close()
    return run_id


def test_the_runs_journal_and_outputs_come_back_with_the_runs_ref(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = a_run(bot, "3f9a2c1b")
    backup(bot, tmp_path / "backup", capsys)
    manifest = json.loads((tmp_path / "backup/manifest.json").read_text())
    assert manifest["runs"] == git(bot.repo, "rev-parse", "refs/opsbot/runs").strip()
    b = clone(bot, tmp_path / "b")
    assert restore(b, tmp_path / "backup") == 0
    assert "recorded again" not in capsys.readouterr().out
    assert (b.state_dir / f"runs/run-{run}.txt").read_text() == "disk ok\n"
    journal = RunbookJournal(b.state_dir / "runs.sqlite")
    found = journal.get(run)
    assert found is not None and found.recorded == manifest["runs"]
    assert git(b.repo, "show", f"refs/opsbot/runs:runs/2026-11/{run}.txt") == "disk ok\n"


def test_a_clone_without_the_runs_is_refused_or_gets_them_recorded_again(
    bot: Bot, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = clone(bot, tmp_path / "b")  # a mirror as it was before the run
    run = a_run(bot, "3f9a2c1b")
    backup(bot, tmp_path / "backup", capsys)
    assert restore(b, tmp_path / "backup") == 2
    assert "lacks the runs' commit" in capsys.readouterr().err
    assert restore(b, tmp_path / "backup", "--force") == 0
    assert "1 run(s) the clone's refs/opsbot/runs lacks" in capsys.readouterr().out

    on_b = Bot(b, open_engine(b), bot.clock)
    executor = Executor(
        on_b.engine.repo,
        on_b.engine.ledger,
        Services(on_b.engine),
        tmp_path / "hooks.d",
        b.state_dir,
        {},
    )
    executor.recover()  # what the bot does when it starts
    executor.close()
    assert git(b.repo, "show", f"refs/opsbot/runs:runs/2026-11/{run}.txt") == "disk ok\n"
    assert git(b.repo, "log", "--format=%an %s", "refs/opsbot/runs") == "Alice run: disk (exit 0)\n"
