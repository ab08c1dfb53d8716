"""The handled invocations move into the outbox's file: a state directory as release 0.3.0 left
it (outbox.sqlite at schema 1, handled.sqlite beside it) keeps every effect it owed and every
command it knew as done, through `opsbot migrate` or a plain start."""

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from bot import cli
from bot.engine.types import Invocation, Reply
from bot.service.assemble import open_engine
from bot.state.schema import version_of
from tests.helpers.bot import Bot

Rows = list[tuple[object, ...]]


def owed(path: Path) -> Rows:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT identity, commit_id, state, effect FROM outbox").fetchall()
    finally:
        conn.close()


def as_release_0_3(bot: Bot) -> Rows:
    """Splits the state directory the way 0.3.0 kept it: the handled rows in handled.sqlite
    (schema 2: seeded), the outbox without them (schema 1). Returns the outbox's rows."""
    bot.engine.ledger.close()
    outbox = sqlite3.connect(bot.paths.outbox, isolation_level=None)
    rows = outbox.execute("SELECT invocation, commit_id, at FROM handled").fetchall()
    assert rows
    outbox.execute("DROP TABLE handled")
    outbox.execute("PRAGMA user_version = 1")
    outbox.close()
    handled = sqlite3.connect(bot.paths.handled, isolation_level=None)
    handled.execute(
        "CREATE TABLE handled (invocation TEXT PRIMARY KEY, commit_id TEXT NOT NULL, "
        "at INTEGER NOT NULL)"
    )
    handled.executemany("INSERT INTO handled VALUES (?, ?, ?)", rows)
    handled.execute("PRAGMA user_version = 2")
    handled.close()
    return owed(bot.paths.outbox)


def answered(bot: Bot, text: str, event_id: str) -> Reply:
    """A command over Matrix, whose answer is owed in the outbox until it is sent."""
    engine_run = bot.engine.run

    def owing(invocation: Invocation) -> Reply | None:
        return engine_run(dataclasses.replace(invocation, answer=True))

    bot.engine.run = owing  # type: ignore[method-assign]
    try:
        return bot.say(text, event_id=event_id)
    finally:
        bot.engine.run = engine_run  # type: ignore[method-assign]


def started(bot: Bot) -> Bot:
    return Bot(bot.paths, open_engine(bot.paths, clock=bot.clock), bot.clock)


@pytest.fixture
def old(bot: Bot) -> tuple[Bot, str, Rows]:
    """A bot of 0.3.0 that committed one deploy, whose answer is still owed."""
    reply = answered(bot, "!deploy web 1.0.0 to dev", "$deployed")
    assert reply.ok and reply.commit
    rows = as_release_0_3(bot)
    assert [row[:3] for row in rows] == [("$deployed#answer", reply.commit, "ready")]
    return bot, reply.commit, rows


def test_opsbot_migrate_keeps_every_effect_owed(
    old: tuple[Bot, str, Rows], capsys: pytest.CaptureFixture[str]
) -> None:
    bot, _, rows = old
    assert cli.main(["migrate", "--repo", str(bot.repo)]) == 0
    assert "handled.sqlite: moved into outbox.sqlite" in capsys.readouterr().out
    assert owed(bot.paths.outbox) == rows
    assert version_of(bot.paths.outbox) == 3
    assert not bot.paths.handled.exists()


def test_a_command_handled_before_the_upgrade_is_already_done_after_it(
    old: tuple[Bot, str, Rows],
) -> None:
    bot, commit, _ = old
    assert cli.main(["migrate", "--repo", str(bot.repo)]) == 0
    bot = started(bot)
    head = bot.head()
    again = bot.say("!deploy web 1.0.0 to dev", event_id="$deployed")
    assert again.ok and again.commit == commit and again.text.startswith("already done")
    assert bot.head() == head


def test_a_start_without_migrate_already_reads_the_handled_commands(
    old: tuple[Bot, str, Rows],
) -> None:
    bot, commit, rows = old
    bot = started(bot)
    assert bot.say("!deploy web 1.0.0 to dev", event_id="$deployed").commit == commit
    assert owed(bot.paths.outbox)[: len(rows)] == rows


def test_a_command_writes_its_effects_and_its_handled_row_in_one_file(bot: Bot) -> None:
    reply = answered(bot, "!deploy web 1.0.0 to dev", "$one-file")
    conn = sqlite3.connect(bot.paths.outbox)
    handled = conn.execute("SELECT commit_id FROM handled WHERE invocation = '$one-file'")
    assert handled.fetchall() == [(reply.commit,)]
    assert conn.execute(
        "SELECT count(*) FROM outbox WHERE commit_id = ?", [reply.commit]
    ).fetchone()[0]
    assert not bot.paths.handled.exists()
