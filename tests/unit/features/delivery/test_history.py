"""!status, !history and !show, and the index behind them."""

from bot.service.assemble import open_engine
from tests.helpers.bot import Bot
from tests.helpers.git import git


def test_status_shows_desired_versions_and_freezes_per_environment(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    bot.say("!deploy api 2.0.0 to staging")
    bot.say('!freeze prod for 2h --reason "release"')
    text = bot.say("!status").text
    assert text.splitlines() == [
        "dev",
        "  (nothing deployed)",
        "staging",
        "  api 2.0.0 (by @alice:example.org, just now)",
        "  web 1.4.2 (by @alice:example.org, just now)",
        "prod (frozen until 14:00 UTC by @alice:example.org)",
        "  (nothing deployed)",
    ]


def test_status_of_one_environment(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    assert bot.say("!status staging").text.splitlines() == [
        "staging",
        "  web 1.4.2 (by @alice:example.org, just now)",
    ]


def test_history_of_an_app_lists_only_its_commits_newest_first(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    bot.say("!deploy api 3.0.0 to dev")
    bot.say("!deploy web 1.1.0 to staging")
    lines = bot.say("!history web").text.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "deploy: web 1.1.0 to staging",
        "deploy: web 1.0.0 to dev",
        "init: new state repository",  # the template created apps/web.toml
    ]


def test_history_of_an_environment_and_its_limit(bot: Bot) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        bot.say(f"!deploy web {version} to dev")
    bot.say("!deploy web 1.0.0 to prod")
    lines = bot.say("!history dev -n 2").text.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "deploy: web 1.2.0 to dev",
        "deploy: web 1.1.0 to dev",
    ]


def test_history_matches_git_log(bot: Bot) -> None:
    for version in ("1.0.0", "1.1.0"):
        bot.say(f"!deploy web {version} to dev")
    shown = [line.split()[0] for line in bot.say("!history -n 3").text.splitlines()]
    assert shown == git(bot.repo, "log", "-3", "--format=%h", "--abbrev=7").split()


def test_show_prints_the_message_and_the_diff(bot: Bot) -> None:
    commit = bot.say('!deploy web 1.4.2 to prod --reason "hotfix"').commit
    assert commit is not None
    text = bot.say(f"!show {commit[:8]}").text
    assert text.startswith(f"commit {commit}\nAuthor: Alice <@alice:example.org>\n")
    assert "Reason: hotfix" in text
    assert "+++ b/deployments/prod/web.toml" in text
    assert '+version = "1.4.2"' in text


def test_history_survives_deleting_the_index(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    bot.say("!deploy web 1.1.0 to dev")
    before = bot.say("!history web").text
    bot.engine.index.close()
    bot.paths.index.unlink()
    bot.engine = open_engine(bot.paths)
    assert bot.say("!history web").text == before


def test_the_index_picks_up_commits_made_outside_the_bot(bot: Bot) -> None:
    bot.say("!history")
    bot.edit(
        "deployments/dev/web.toml",
        'version = "9.9.9"\nrequested_by = "@alice:example.org"\n'
        "requested_at = 2026-11-26T12:00:00Z\n",
    )
    assert bot.say("!history web -n 1").text.endswith("edit deployments/dev/web.toml")


def test_an_index_made_by_another_version_is_rebuilt_not_misread(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    old = bot.engine.index.db.conn
    old.execute("DROP TABLE commits")  # as an earlier version laid it out
    old.execute("CREATE TABLE commits (sha TEXT PRIMARY KEY, seq INTEGER, summary TEXT)")
    old.execute("PRAGMA user_version = 1")
    bot.engine.index.close()
    bot.engine = open_engine(bot.paths)
    assert bot.say("!history web -n 1").text.endswith("deploy: web 1.0.0 to dev")
