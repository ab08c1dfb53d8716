"""!promote along the environments' order, !lock and !unlock, !suspend and !resume, --dry-run."""

from tests.helpers.bot import BOB, Bot
from tests.helpers.git import git


def test_promote_deploys_the_version_of_the_previous_environment(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    reply = bot.say("!promote web from staging to prod")
    assert reply.ok, reply.text
    assert reply.text.startswith("promote: web 1.4.2 from staging to prod · commit ")
    assert 'version = "1.4.2"' in bot.show("deployments/prod/web.toml")


def test_promote_must_follow_the_order_the_environments_declare(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to dev")
    head = bot.head()
    reply = bot.say("!promote web from dev to prod")
    assert not reply.ok
    assert "prod does not follow dev in the promotion order (dev -> staging -> prod)" in reply.text
    assert "promote dev to staging" in reply.text
    assert bot.head() == head


def test_promote_of_an_app_absent_from_the_source_is_refused(bot: Bot) -> None:
    reply = bot.say("!promote web from staging to prod")
    assert "web has no version in staging to promote" in reply.text


def test_promote_respects_a_freeze(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    bot.say("!freeze prod")
    assert "prod is frozen" in bot.say("!promote web from staging to prod").text


def test_a_lock_stops_everyone_but_its_holder(with_deployer: Bot) -> None:
    bot = with_deployer
    bot.edit(
        "policy.toml",
        bot.show("policy.toml").replace(
            '"deploy", "rollback"', '"deploy", "rollback", "lock", "unlock"'
        ),
    )
    assert bot.say('!lock staging --reason "db migration"', sender=BOB).ok
    assert 'reason = "db migration"' in bot.show("locks/staging.toml")
    refused = bot.say("!deploy web 1.0.0 to staging")
    assert refused.text == (
        'refused: staging is locked by @bob:example.org ("db migration"); '
        "ask @bob:example.org or an admin for !unlock staging"
    )
    assert bot.say("!deploy web 1.0.0 to staging", sender=BOB).ok


def test_only_the_holder_or_an_admin_may_unlock(with_deployer: Bot) -> None:
    bot = with_deployer
    bot.say('!lock staging --reason "mine"')
    bot.edit(
        "policy.toml",
        bot.show("policy.toml").replace('"deploy", "rollback"', '"deploy", "rollback", "unlock"'),
    )
    assert "ask @alice:example.org or an admin" in bot.say("!unlock staging", sender=BOB).text
    assert bot.say("!unlock staging").ok
    assert git(bot.repo, "ls-tree", "main", "locks/staging.toml") == ""


def test_a_lock_needs_a_reason(bot: Bot) -> None:
    reply = bot.say("!lock prod")
    assert reply.error == "usage"
    assert "a lock needs a reason" in reply.text


def test_suspend_and_resume_are_commits(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to dev")
    assert bot.say('!suspend web --reason "flaky hook"').ok
    assert 'reason = "flaky hook"' in bot.show("suspended/web.toml")
    assert (
        "  web 1.0.0 (by @alice:example.org, just now) [suspended]" in bot.say("!status dev").text
    )
    assert bot.say("!resume web").ok
    assert git(bot.repo, "log", "-2", "--format=%s").splitlines() == ["resume: web", "suspend: web"]


def test_dry_run_shows_the_diff_and_commits_nothing(bot: Bot) -> None:
    head = bot.head()
    reply = bot.say("!deploy web 1.4.2 to prod --dry-run")
    assert reply.ok
    assert reply.commit is None
    assert reply.text.startswith("dry run: would commit: deploy: web 1.4.2 to prod\n")
    assert "+++ b/deployments/prod/web.toml" in reply.text
    assert '+version = "1.4.2"' in reply.text
    assert bot.head() == head


def test_dry_run_still_refuses_what_would_be_refused(bot: Bot) -> None:
    bot.say("!freeze prod")
    reply = bot.say("!deploy web 1.4.2 to prod --dry-run")
    assert not reply.ok
    assert "prod is frozen" in reply.text


def test_status_shows_locks_and_open_proposals(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    bot.say('!lock staging --reason "x"')
    bot.say("!deploy web 2.0.0 to prod")
    text = bot.say("!status").text
    assert "staging (locked by @alice:example.org)" in text
    assert "open proposals\n  1: deploy: web 2.0.0 to prod (0 of 1)" in text


def test_redeploy_asks_for_the_same_version_again_in_a_new_commit(bot: Bot) -> None:
    first = bot.say("!deploy web 1.4.2 to staging").commit
    reply = bot.say('!redeploy web in staging --reason "registry is back"')
    assert reply.ok, reply.text
    assert reply.commit != first
    assert reply.text.startswith("redeploy: web 1.4.2 in staging again · commit ")
    assert 'reason = "registry is back"' in bot.show("deployments/staging/web.toml")


def test_redeploy_of_an_app_not_in_the_environment_is_refused(bot: Bot) -> None:
    head = bot.head()
    reply = bot.say("!redeploy web in prod")
    assert "web has no version in prod" in reply.text
    assert bot.head() == head


def test_a_command_that_would_change_nothing_is_refused_and_writes_nothing(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    # The record says which command wrote it: the first redeploy changes that. The test clock
    # stands still, so a second one in the same second would write the very same record.
    assert bot.say("!redeploy web in staging").ok
    head = bot.head()
    reply = bot.say("!redeploy web in staging")
    assert reply.error == "refused"
    assert "that would change nothing in the repo" in reply.text
    assert bot.head() == head
