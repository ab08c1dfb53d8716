"""Who may do what comes from policy.toml, and !help shows only what a person may run."""

from tests.helpers.bot import ALICE, BOB, MALLORY, Bot
from tests.helpers.git import git


def test_a_deployer_may_deploy_where_the_policy_allows(with_deployer: Bot) -> None:
    assert with_deployer.say("!deploy web 1.4.2 to staging", sender=BOB).ok


def test_the_commit_author_is_the_person_not_the_bot(with_deployer: Bot) -> None:
    with_deployer.say("!deploy web 1.4.2 to dev", sender=BOB)
    assert git(with_deployer.repo, "log", "-1", "--format=%an <%ae>").strip() == f"Bob <{BOB}>"


def test_everyone_may_read(with_deployer: Bot) -> None:
    assert with_deployer.say("!status", sender=MALLORY).ok
    assert with_deployer.say("!history", sender=MALLORY).ok


def test_help_lists_only_the_commands_the_person_may_run(with_deployer: Bot) -> None:
    def listed(sender: str) -> list[str]:
        lines = with_deployer.say("!help", sender=sender).text.splitlines()[:-1]
        return [line.split()[0] for line in lines]

    assert listed(MALLORY) == ["!help", "!whoami", "!status", "!history", "!show"]
    assert listed(BOB) == [
        "!help",
        "!whoami",
        "!deploy",
        "!rollback",
        "!status",
        "!history",
        "!show",
    ]
    assert "!freeze" in listed(ALICE)


def test_help_for_one_command_shows_usage_options_and_examples(bot: Bot) -> None:
    text = bot.say("!help deploy").text
    assert (
        text.splitlines()[0]
        == "!deploy <app> <version> to <env> [--reason TEXT] [--hotfix INC-<n>] [--dry-run]"
    )
    assert "--reason TEXT: why; goes into the commit message" in text
    assert '!deploy web 1.4.2 to staging --reason "new login page"' in text


def test_whoami_lists_the_roles_and_where_they_apply(with_deployer: Bot) -> None:
    text = with_deployer.say("!whoami", sender=BOB).text
    assert text == (
        "@bob:example.org: deployer (deploy, rollback; in dev, staging); "
        "everyone (help, whoami, status, history, show; everywhere)\n"
        "opsbot: not cross-signed (console)"
    )


def test_a_policy_edit_cannot_lock_out_the_admins(bot: Bot) -> None:
    bot.edit("policy.toml", f'[roles.admin]\nmembers = ["{ALICE}"]\ncommands = []\n')
    assert bot.say("!freeze prod").ok
