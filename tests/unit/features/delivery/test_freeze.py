"""!freeze and !unfreeze: a frozen environment refuses every change until it thaws."""

from tests.helpers.bot import BOB, Bot
from tests.helpers.git import git


def test_deploy_to_a_frozen_environment_is_refused_with_who_why_and_what_to_type(bot: Bot) -> None:
    bot.say('!freeze prod for 2h --reason "release 2.0"')
    head = bot.head()
    reply = bot.say("!deploy web 1.4.2 to prod")
    assert not reply.ok
    assert reply.text == (
        'refused: prod is frozen until 14:00 UTC by @alice:example.org ("release 2.0"); '
        "ask an admin for !unfreeze prod"
    )
    assert reply.error == "refused"
    assert bot.head() == head


def test_freeze_is_a_file_in_the_repo_with_who_why_and_until(bot: Bot) -> None:
    bot.say('!freeze prod for 2h --reason "release 2.0"')
    text = bot.show("freezes/prod.toml")
    assert 'by = "@alice:example.org"' in text
    assert "until = 2026-11-26T14:00:00Z" in text
    assert 'reason = "release 2.0"' in text
    assert (
        git(bot.repo, "log", "-1", "--format=%s").strip()
        == "freeze: prod until 2026-11-26 14:00 UTC"
    )


def test_freeze_stops_rollback_too(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to prod")
    bot.say("!deploy web 1.1.0 to prod")
    bot.say("!freeze prod")
    reply = bot.say("!rollback web in prod")
    assert not reply.ok
    assert "prod is frozen until unfrozen" in reply.text


def test_freeze_leaves_other_environments_open(bot: Bot) -> None:
    bot.say("!freeze prod")
    assert bot.say("!deploy web 1.4.2 to staging").ok


def test_unfreeze_removes_the_freeze_and_deploys_pass_again(bot: Bot) -> None:
    bot.say("!freeze prod")
    assert bot.say("!unfreeze prod").ok
    git(bot.repo, "cat-file", "-e", "main~1:freezes/prod.toml")
    assert git(bot.repo, "ls-tree", "main", "freezes/prod.toml") == ""
    assert bot.say("!deploy web 1.4.2 to prod").ok


def test_a_freeze_with_a_duration_expires_by_itself(bot: Bot) -> None:
    bot.say("!freeze prod for 30m")
    bot.clock.advance(minutes=31)
    assert bot.say("!deploy web 1.4.2 to prod").ok


def test_freezing_a_frozen_environment_is_refused(bot: Bot) -> None:
    bot.say("!freeze prod")
    head = bot.head()
    reply = bot.say("!freeze prod for 1h")
    assert not reply.ok
    assert "already frozen" in reply.text
    assert bot.head() == head


def test_unfreezing_an_environment_that_is_not_frozen_is_refused(bot: Bot) -> None:
    head = bot.head()
    reply = bot.say("!unfreeze prod")
    assert not reply.ok
    assert "prod is not frozen" in reply.text
    assert bot.head() == head


def test_a_freeze_stops_everyone_not_only_the_person_who_froze(with_deployer: Bot) -> None:
    bot = with_deployer
    bot.say("!freeze staging")
    reply = bot.say("!deploy web 1.4.2 to staging", sender=BOB)
    assert not reply.ok
    assert "staging is frozen" in reply.text
