"""`opsbot migrate`: journals with schema versions, the repo's layout, and what earlier releases
knew as done. (The upgrade of a real 0.1.0 repo is in tests/slow/test_upgrade_release.py.)"""

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import cli
from bot.features.catalog import journals, kept_refs
from bot.features.runbooks.journal import SCHEMA as RUNS_SCHEMA
from bot.features.runbooks.journal import RunbookJournal
from bot.service import upgrade
from bot.service.assemble import open_engine
from bot.state import layout
from bot.state.message import Message
from bot.state.repo import Identity, StateRepo
from bot.state.schema import NewerThanCode, sql
from bot.state.schema import upgrade as upgrade_schema
from bot.transport.matrix.journal import SCHEMA as JOURNAL_SCHEMA
from bot.transport.matrix.journal import MatrixJournal as Journal
from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git


def host(bot: Bot) -> upgrade.Host:
    return upgrade.Host(
        bot.paths, "@opsbot:localhost", bot.paths.signing_key, refs=kept_refs(), journals=journals()
    )


def as_layout_1(bot: Bot) -> None:
    """The repo as release 0.1.0 left it: no layout file."""
    bot.edit(layout.FILE, None)


def signed_commit(bot: Bot, message: Message, files: dict[str, str]) -> str:
    """A commit signed with the bot's key, with the trailers 0.1.0 wrote."""
    repo = bot.engine.repo
    with repo.locked():
        return repo.commit(
            {p: t.encode() for p, t in files.items()},
            message,
            Identity("Alice", ALICE),
            datetime.now(UTC),
            parent=repo.head(),
        )


def without_handled(bot: Bot) -> None:
    """The state dir as 0.1.0 left it: no outbox, no handled invocations."""
    bot.engine.ledger.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{bot.paths.outbox}{suffix}").unlink(missing_ok=True)


def reopened(bot: Bot) -> Bot:
    """The bot started again, after the upgrade."""
    engine = open_engine(bot.paths, clock=bot.clock)
    return Bot(bot.paths, engine, bot.clock)


def migrate(bot: Bot, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["migrate", "--repo", str(bot.repo)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_new_repo_is_at_the_current_layout_and_needs_nothing(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"version = {layout.CURRENT}" in bot.show(layout.FILE)
    before = bot.head()
    status, out, err = migrate(bot, capsys)
    assert (status, err) == (0, "")
    assert out.startswith("up to date\ncurrent: state repo layout 2, outbox.sqlite ")
    assert bot.head() == before


def test_a_layout_1_repo_is_migrated_in_one_signed_commit(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    as_layout_1(bot)
    before = bot.head()
    code, out, _ = migrate(bot, capsys)
    assert code == 0
    assert "state repo: layout 1 -> 2" in out
    assert git(bot.repo, "rev-parse", "main~1").strip() == before
    assert git(bot.repo, "log", "-1", "--format=%s").strip() == "migrate: state repo layout 1 to 2"
    assert "version = 2" in bot.show(layout.FILE)
    git(bot.repo, "verify-commit", "main")
    assert migrate(bot, capsys)[1].startswith("up to date\ncurrent: state repo layout 2")


def test_a_migration_killed_before_main_moved_is_done_by_the_next_run(
    bot: Bot, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    as_layout_1(bot)
    before = bot.head()

    def killed(*_: object) -> bool:
        raise KeyboardInterrupt  # stands for the SIGKILL between the objects and the ref

    with monkeypatch.context() as m:
        m.setattr(StateRepo, "_move", killed)
        with pytest.raises(KeyboardInterrupt):
            upgrade.migrate(host(bot))
    assert bot.head() == before
    code, out, _ = migrate(bot, capsys)
    assert (code, "layout 1 -> 2" in out) == (0, True)
    assert git(bot.repo, "rev-list", "--count", f"{before}..main").strip() == "1"
    git(bot.repo, "fsck", "--strict")


def test_a_repo_of_a_newer_layout_is_refused_in_one_line(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    bot.edit(layout.FILE, "version = 9\n")
    code, out, err = migrate(bot, capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "layout 9" in err and "newer than this opsbot knows (2)" in err


def test_a_journal_of_a_newer_schema_is_refused_and_left_as_it_was(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bot.paths.state_dir / "matrix" / "journal.sqlite"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    code, _, err = migrate(bot, capsys)
    assert code == 2
    assert (
        f"journal.sqlite has schema version 7, newer than this opsbot knows ({JOURNAL_SCHEMA})"
        in err
    )
    with pytest.raises(NewerThanCode):
        Journal(path)


def test_an_unversioned_journal_of_0_1_0_is_stamped_and_keeps_its_rows(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bot.paths.state_dir / "matrix" / "journal.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)  # the tables as 0.1.0 made them, without a version
    conn.execute("CREATE TABLE position (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT)")
    conn.execute("INSERT INTO position VALUES (1, 's42_7')")
    conn.commit()
    conn.close()
    code, out, _ = migrate(bot, capsys)
    assert (code, f"matrix/journal.sqlite: schema 0 -> {JOURNAL_SCHEMA}" in out) == (0, True)
    assert Journal(path).position() == "s42_7"


def test_a_schema_step_cut_short_leaves_the_file_at_the_step_before(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    first = sql("CREATE TABLE a (x)")

    def second_dies(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE b (x)")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        upgrade_schema(conn, path, [first, second_dies])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert (tables, conn.execute("PRAGMA user_version").fetchone()[0]) == ({"a"}, 1)
    assert upgrade_schema(conn, path, [first, sql("CREATE TABLE b (x)")]) == 2


def test_a_command_0_1_0_committed_is_already_done_when_redelivered(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    as_layout_1(bot)
    old = signed_commit(
        bot,
        Message(
            "deploy: web 1.0 to dev",
            trailers=(
                ("Opsbot-Command", "!deploy web 1.0 to dev"),
                ("Matrix-Room", "!ops:example.org"),
                ("Matrix-Event", "$before-the-upgrade"),
            ),
        ),
        {"deployments/dev/web.toml": 'version = "1.0"\n'},
    )
    without_handled(bot)
    code, out, _ = migrate(bot, capsys)
    assert (code, "1 earlier commands remembered" in out) == (0, True)
    bot = reopened(bot)
    head = bot.head()
    reply = bot.say("!deploy web 1.0 to dev", event_id="$before-the-upgrade")
    assert reply.ok and reply.commit == old
    assert bot.head() == head


def test_an_unsigned_commit_s_trailer_is_not_taken_as_a_command_done(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    as_layout_1(bot)
    pushed = bot.push({"notes.txt": "x"}, "deploy: web 1.0 to dev\n\nMatrix-Event: $someone-elses")
    bot.say(f"!adopt {pushed[:7]}")  # so that the layout migration may be signed on top
    without_handled(bot)
    assert migrate(bot, capsys)[0] == 0
    bot = reopened(bot)
    head = bot.head()
    assert bot.say("!deploy web 1.0 to dev", event_id="$someone-elses").ok
    assert bot.head() != head


def test_migration_waits_while_unsigned_commits_are_on_main(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    as_layout_1(bot)
    bot.push({"apps/api.toml": 'description = "api"\n'}, "add api")
    code, _, err = migrate(bot, capsys)
    assert code == 1
    assert "1 commit(s) opsbot did not write" in err and "!adopt or !discard" in err
    assert layout.FILE not in git(bot.repo, "ls-tree", "--name-only", "main")


def test_a_state_dir_of_another_bot_is_refused(bot: Bot) -> None:
    (bot.paths.state_dir / "matrix").mkdir()
    (bot.paths.state_dir / "matrix/credentials.json").write_text(
        '{"homeserver": "https://hs", "user_id": "@other:example.org", "device_id": "D", '
        '"access_token": "t"}'
    )
    with pytest.raises(upgrade.OtherBot, match=r"holds the Matrix device of @other:example\.org"):
        upgrade.migrate(host(bot))


def run(bot: Bot, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`opsbot run` on the bot's repo, with a homeserver nobody answers at: it migrates (or
    refuses) before it logs in."""
    config = tmp_path / "opsbot.toml"
    (tmp_path / "password").write_text("secret")
    config.write_text(
        '[matrix]\nhomeserver = "http://127.0.0.1:9"\nuser_id = "@opsbot:localhost"\n'
        f'password_file = "{tmp_path / "password"}"\n'
        f'[paths]\nstate_dir = "{bot.paths.state_dir}"\nrepo = "{bot.repo}"\n'
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_opsbot_run_migrates_before_it_serves(bot: Bot, tmp_path: Path) -> None:
    as_layout_1(bot)
    result = run(bot, tmp_path)
    assert 'msg=migrated step="state repo: layout 1 -> 2' in result.stderr
    assert "version = 2" in bot.show(layout.FILE)


def test_opsbot_run_refuses_a_repo_of_a_newer_release_and_is_not_restarted(
    bot: Bot, tmp_path: Path
) -> None:
    bot.edit(layout.FILE, "version = 3\n")
    result = run(bot, tmp_path)
    assert result.returncode == 2  # RestartPreventExitStatus=2: a restart would not help
    [line] = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert "layout 3" in line and "upgrade opsbot" in line


def test_a_runs_journal_of_a_newer_release_is_refused_before_anything_runs(
    bot: Bot, capsys: pytest.CaptureFixture[str]
) -> None:
    path = bot.paths.state_dir / "runs.sqlite"
    RunbookJournal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    code, _, err = migrate(bot, capsys)
    assert code == 2
    assert f"runs.sqlite has schema version 9, newer than this opsbot knows ({RUNS_SCHEMA})" in err
