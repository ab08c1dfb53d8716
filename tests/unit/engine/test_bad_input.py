"""Bad input never crashes and never writes: the reply says what was wrong and what to type."""

import pytest

from bot.engine.context import Context, Outcome
from bot.engine.dispatch import Engine
from bot.engine.registry import Command, CommandRegistry
from bot.engine.types import Invocation
from bot.transport.console import invocation
from tests.helpers.bot import BOB, MALLORY, Bot

CASES = [
    # (what is typed, who types it, error code, what the reply must say)
    ("!deplyo web 1.4.2 to dev", None, "unknown_command", "did you mean !deploy?"),
    ("!frobnicate", None, "unknown_command", "!help lists them all"),
    ("!incident", None, "unknown_command", "!incident is not a command by itself"),
    (
        "!incident declare db down",
        None,
        "unknown_command",
        "unknown command !incident declare; its commands are !incident open, sev, assign,",
    ),
    ("!incident shwo INC-1", None, "unknown_command", "did you mean !incident show?"),
    ("!deploy web 1.4.2", None, "usage", "missing 'to'"),
    ("!deploy web 1.4.2 to", None, "usage", "missing <env>"),
    ("!deploy web 1.4.2 prod", None, "usage", "expected 'to' but got 'prod'"),
    ("!deploy web 1.4.2 to prod now", None, "usage", "unexpected 'now'"),
    ("!deploy shop 1.0 to dev", None, "not_found", "unknown app 'shop'; known apps: api, web"),
    ("!deploy web 1.0 to qa", None, "not_found", "known environments: dev, staging, prod"),
    ("!deploy web latest to dev", None, "usage", "must be a plain version like 1.4.2"),
    ("!deploy web 1.0;rm to dev", None, "usage", "must be a plain version"),
    ("!deploy ../web 1.0 to dev", None, "usage", "no '/' or '..'"),
    ("!deploy a/b 1.0 to dev", None, "usage", "no '/' or '..'"),
    ("!deploy we\x07b 1.0 to dev", None, "usage", "must not contain control characters"),
    ("!deploy " + "w" * 65 + " 1.0 to dev", None, "usage", "at most 64 characters"),
    ("!deploy web 1.0 to dev --reason " + "x" * 4100, None, "too_long", "over 4 KiB"),
    ('!deploy web 1.0 to dev --reason "unclosed', None, "usage", "close every quote"),
    ("!deploy web 1.0 to dev --force", None, "usage", "unknown option --force"),
    ("!deploy web 1.0 to dev --reason", None, "usage", "--reason needs a value"),
    ("!deploy web 1.0 to dev", MALLORY, "forbidden", "may not run !deploy"),
    ("!deploy web 1.0 to prod", BOB, "forbidden", "may not run !deploy in prod"),
    ("!freeze prod", BOB, "forbidden", "may not run !freeze"),
    ("!freeze prod for 2x", None, "usage", "must be a duration like 30m, 2h"),
    ("!freeze prod for 100d", None, "usage", "at most 90d"),
    ("!freeze prod until friday", None, "usage", "expected 'for' but got 'until'"),
    ("!rollback web in prod", None, "refused", "no previous version"),
    ("!history web -n 0", None, "usage", "a number from 1 to 200"),
    ("!history shop", None, "not_found", "no app or environment named 'shop'"),
    ("!show zzzz", None, "usage", "4 to 40 hexadecimal digits"),
    ("!show abcdef12", None, "not_found", "no commit abcdef12"),
    ("!status qa", None, "not_found", "unknown environment 'qa'"),
    ("!help frobnicate", None, "not_found", "no command !frobnicate"),
    ("!help de\u202eploy", None, "usage", "must not contain invisible characters"),
    ("!grant @bob:example.org deplo\u202eyer", None, "usage", "must not contain invisible"),
    ("!help incident declare", None, "not_found", "its commands are !incident open,"),
    ("!", None, None, None),
]


@pytest.mark.parametrize(("text", "sender", "code", "says"), [c for c in CASES if c[2]])
def test_bad_input_gets_a_clear_refusal_and_writes_nothing(
    with_deployer: Bot, text: str, sender: str | None, code: str, says: str
) -> None:
    bot = with_deployer
    head = bot.head()
    reply = bot.say(text, sender=sender or "@alice:example.org")
    assert not reply.ok
    assert reply.error == code
    assert says in reply.text
    assert reply.text.startswith("refused: ")
    assert reply.result["commit"] is None
    assert bot.head() == head


def test_a_usage_error_shows_the_usage_line(bot: Bot) -> None:
    reply = bot.say("!deploy web 1.4.2")
    assert reply.text.endswith(
        "\nusage: !deploy <app> <version> to <env> [--reason TEXT] [--hotfix INC-<n>] [--dry-run]"
    )


def test_text_that_is_not_a_command_is_ignored(bot: Bot) -> None:
    assert bot.engine.run(_plain(bot, "deploy went fine, thanks!")) is None
    assert bot.engine.run(_plain(bot, "! just an exclamation")) is None


def test_the_bot_answers_to_its_name_followed_by_a_colon(bot: Bot) -> None:
    reply = bot.say("opsbot: deploy web 1.4.2 to dev")
    assert reply.ok, reply.text


def test_a_handler_bug_is_reported_with_a_reference_and_writes_nothing(bot: Bot, caplog) -> None:
    def broken(ctx: Context) -> Outcome:
        raise KeyError("secret detail")

    explode = Command(name="explode", usage="", summary="a bug", handler=broken, writes=True)
    engine = Engine(
        CommandRegistry([explode]), bot.engine.repo, bot.engine.index, bot.engine.ledger
    )
    head = bot.head()
    reply = engine.run(invocation("@alice:example.org", "!explode"))
    assert reply is not None and not reply.ok
    assert reply.error == "internal"
    assert reply.text.startswith("internal error (ref: ")
    assert reply.text.endswith("), nothing was written")
    assert "secret detail" not in reply.text
    assert "KeyError" in caplog.text  # the traceback goes to the log, not to the person
    assert bot.head() == head


def _plain(bot: Bot, text: str) -> Invocation:
    return invocation("@alice:example.org", text)
