"""A repeated invocation (redelivery, restart) never makes a second commit."""

from pathlib import Path

from bot.assemble import open_engine
from conftest import Bot, git


def _commits(bot: Bot) -> int:
    return int(git(bot.repo, "rev-list", "--count", "main"))


def test_the_same_event_twice_makes_one_commit_and_answers_with_it(bot: Bot) -> None:
    first = bot.say("!deploy web 1.4.2 to staging", event_id="$once")
    count = _commits(bot)
    again = bot.say("!deploy web 1.4.2 to staging", event_id="$once")
    assert again.ok
    assert again.commit == first.commit
    assert again.text == f"already done: deploy: web 1.4.2 to staging · commit {first.commit[:7]}"
    assert _commits(bot) == count


def test_a_redelivered_event_is_not_re_executed_even_when_state_changed_since(bot: Bot) -> None:
    first = bot.say("!deploy web 1.0.0 to dev", event_id="$a")
    bot.say("!deploy web 2.0.0 to dev", event_id="$b")
    again = bot.say("!deploy web 1.0.0 to dev", event_id="$a")
    assert again.commit == first.commit
    assert 'version = "2.0.0"' in bot.show("deployments/dev/web.toml")


def test_redelivery_is_recognised_after_the_index_is_deleted(bot: Bot) -> None:
    first = bot.say("!freeze prod", event_id="$freeze")
    bot.engine.index.close()
    Path(bot.paths.index).unlink()
    engine = open_engine(bot.paths)
    bot.engine = engine
    count = _commits(bot)
    again = bot.say("!freeze prod", event_id="$freeze")
    assert again.ok and again.commit == first.commit
    assert _commits(bot) == count


def test_redelivery_is_recognised_when_the_commit_landed_but_the_index_missed_it(bot: Bot) -> None:
    # As after a crash between moving main and updating the index: the index is behind.
    bot.engine.index.close()
    stale = bot.paths.index.read_bytes()
    engine = open_engine(bot.paths)
    bot.engine = engine
    first = bot.say("!deploy web 1.4.2 to dev", event_id="$crash")
    engine.index.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(bot.paths.index) + suffix).unlink(missing_ok=True)
    bot.paths.index.write_bytes(stale)
    bot.engine = open_engine(bot.paths)
    again = bot.say("!deploy web 1.4.2 to dev", event_id="$crash")
    assert again.commit == first.commit


def test_a_refused_command_can_be_retried_under_the_same_event(bot: Bot) -> None:
    bot.say("!freeze dev")
    assert not bot.say("!deploy web 1.0.0 to dev", event_id="$retry").ok
    bot.say("!unfreeze dev")
    assert bot.say("!deploy web 1.0.0 to dev", event_id="$retry").ok
