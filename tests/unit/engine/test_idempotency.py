"""A repeated invocation (redelivery, restart) never makes a second commit."""

from pathlib import Path

from bot.service.assemble import open_engine
from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git


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


def answers_owed(bot: Bot) -> list[str]:
    """The texts of the answers the outbox owes the room, in order."""
    from bot.core.effects import Answer

    return [o.effect.text for o in bot.engine.ledger.due() if isinstance(o.effect, Answer)]


def in_the_room(bot: Bot, text: str, event_id: str) -> None:
    """A command as the Matrix transport hands it over: answered in the room."""
    import dataclasses

    from bot.engine.types import Invocation

    invocation = Invocation(
        sender=ALICE,
        text=text,
        event_id=event_id,
        received_at=bot.clock(),
        room_id="!ops:example.org",
        transport="matrix",
        answer=True,
    )
    assert bot.engine.run(dataclasses.replace(invocation)) is not None


def test_a_redelivered_command_is_answered_once_in_the_room(bot: Bot) -> None:
    in_the_room(bot, "!deploy web 1.0.0 to dev", "$once")
    in_the_room(bot, "!deploy web 1.0.0 to dev", "$once")
    [answer] = answers_owed(bot)
    assert answer.startswith("deploy: web 1.0.0 to dev · commit ")


def test_a_command_whose_answer_was_never_owed_is_answered_already_done(bot: Bot) -> None:
    """As for a command an earlier release committed, before answers were owed in the outbox."""
    in_the_room(bot, "!deploy web 1.0.0 to dev", "$old")
    for owed in bot.engine.ledger.due():
        bot.engine.ledger.sent(owed, None)  # answered long ago, and pruned since
    bot.engine.ledger.prune(now=1e12)
    in_the_room(bot, "!deploy web 1.0.0 to dev", "$old")
    [answer] = answers_owed(bot)
    assert answer.startswith("already done: deploy: web 1.0.0 to dev · commit ")


def test_an_event_the_transport_answers_itself_is_answered_once(bot: Bot) -> None:
    """A refusal before dispatch (a rate limit, a message it could not read), seen again."""
    from bot.core.effects import Answer
    from bot.engine.types import Reply
    from tests.helpers.bot import ALICE

    reply = Reply(False, None, "refused: too many commands", "refused", error="rate_limited")
    for _ in range(2):
        bot.engine.answer_before_dispatch("!ops:example.org", "$flood", ALICE, reply)
    [owed] = bot.engine.ledger.due()
    assert owed.identity == "$flood#answer"
    assert isinstance(owed.effect, Answer)
    assert (owed.effect.in_reply_to, owed.effect.text) == ("$flood", "refused: too many commands")
