"""While a cold index is built in the background (after a restore without it, an upgrade that
changed its tables), the bot answers at once the commands that do not read the history and
tells the others how far the build has come; once it is built, both are answered."""

import threading
from collections.abc import Callable

from bot.features.catalog import index_tables
from bot.service.assemble import open_engine, reopened
from bot.state.index import Index
from bot.state.index_build import IndexBuild
from bot.state.repo import StateRepo
from tests.helpers.bot import Bot


class HeldBuild:
    """The index's own build, held before it starts until the test lets it go."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.go = threading.Event()

    @property
    def progress(self) -> float:
        return self.index.progress

    def sync(self, repo: StateRepo) -> int:
        assert self.go.wait(10)
        return self.index.sync(repo)

    def knows(self, sha: str) -> bool:
        return self.index.knows(sha)

    def close(self) -> None:
        self.index.close()


def rebuilding(bot: Bot) -> tuple[HeldBuild, IndexBuild]:
    """The bot's index emptied, as `opsbot restore --no-index` leaves it, and a build started."""
    db = bot.engine.index.db
    for table in db.table_names():  # every row, the features' tables' too
        if table != "meta":
            db.conn.execute(f"DELETE FROM {table}")
    db.conn.execute("DELETE FROM meta WHERE key = 'head'")
    held = HeldBuild(Index(bot.paths.index, index_tables()))
    build = IndexBuild(held, reopened(bot.engine.repo)).start()
    bot.engine.index.building = build
    return held, build


def test_a_command_reading_the_history_during_the_build_is_told_to_try_again(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0 to dev").ok
    held, build = rebuilding(bot)
    reply = bot.say("!history")
    assert not reply.ok
    assert reply.error == "indexing"
    assert "indexing, 0%" in reply.text
    assert "try again in a minute" in reply.text
    held.go.set()
    assert build.wait(10)


def test_a_command_that_does_not_read_the_history_is_answered_during_the_build(bot: Bot) -> None:
    held, build = rebuilding(bot)
    assert bot.say("!help").ok
    frozen = bot.say('!freeze prod --reason "release day"')
    assert frozen.ok and frozen.commit is not None
    held.go.set()
    assert build.wait(10)


def test_after_the_build_both_are_answered_with_what_was_written_meanwhile(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0 to dev").ok
    held, build = rebuilding(bot)
    assert bot.say('!freeze prod --reason "release day"').ok
    held.go.set()
    assert build.wait(10)
    history = bot.say("!history")
    assert history.ok
    assert "freeze" in history.text and "deploy: web 1.0 to dev" in history.text
    assert bot.say("!help").ok


def test_the_service_builds_a_cold_index_in_the_background(make_bot: Callable[..., Bot]) -> None:
    bot = make_bot()
    assert bot.say("!deploy web 1.0 to dev").ok
    bot.engine.index.close()
    bot.paths.index.unlink()
    engine = open_engine(bot.paths, index_in_background=True)
    build = engine.index.building
    assert build is not None
    assert build.wait(10) and build.failed is None
    bot.engine = engine
    assert "deploy: web 1.0 to dev" in bot.say("!history").text


def test_a_warm_index_is_not_built_again(bot: Bot) -> None:
    engine = open_engine(bot.paths, index_in_background=True)
    assert engine.index.building is None


def test_the_audit_report_during_the_build_is_told_to_try_again(bot: Bot) -> None:
    """It reads its own table of the index: half built, it would be a report missing changes."""
    assert bot.say("!deploy web 1.0 to dev").ok
    held, build = rebuilding(bot)
    reply = bot.say("!audit")
    assert not reply.ok and reply.error == "indexing", reply.text
    held.go.set()
    assert build.wait(10)
    assert bot.say("!audit").ok
