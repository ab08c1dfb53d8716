"""!deploy and !rollback, read back with the real git CLI."""

from tests.helpers.bot import ALICE, Bot
from tests.helpers.git import git


def test_deploy_writes_the_desired_version_in_one_commit(bot: Bot) -> None:
    before = bot.head()
    reply = bot.say('!deploy web 1.4.2 to staging --reason "new login page"')
    assert reply.ok, reply.text
    assert reply.commit == bot.head()
    assert git(bot.repo, "rev-parse", "main~1").strip() == before
    assert 'version = "1.4.2"' in bot.show("deployments/staging/web.toml")
    assert git(bot.repo, "diff", "--name-only", before, "main").split() == [
        "deployments/staging/web.toml"
    ]


def test_deploy_reply_names_the_change_and_the_commit(bot: Bot) -> None:
    reply = bot.say("!deploy web 1.4.2 to staging")
    assert reply.text == f"deploy: web 1.4.2 to staging · commit {reply.commit[:7]}"
    assert reply.result == {"ok": True, "command": "deploy", "commit": reply.commit, "error": None}


def test_deploy_commit_has_the_design_message_author_and_committer(bot: Bot) -> None:
    bot.say('!deploy web 1.4.2 to prod --reason "hotfix for the login bug"', event_id="$Yz123")
    message = git(bot.repo, "log", "-1", "--format=%B")
    assert message == (
        "deploy: web 1.4.2 to prod\n\n"
        "Requested by Alice in #ops.\n"
        "Reason: hotfix for the login bug\n\n"
        'Opsbot-Command: !deploy web 1.4.2 to prod --reason "hotfix for the login bug"\n'
        "Matrix-Room: !ops:example.org\n"
        "Matrix-Event: $Yz123\n\n"
    )
    assert git(bot.repo, "log", "-1", "--format=%an <%ae>").strip() == f"Alice <{ALICE}>"
    assert git(bot.repo, "log", "-1", "--format=%cn <%ce>").strip() == "opsbot <@opsbot:localhost>"


def test_deploy_commits_are_found_by_author_and_trailer(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    bot.say("!deploy api 2.0.0 to dev")
    by_alice = git(bot.repo, "log", f"--author={ALICE}", "--format=%s").splitlines()
    assert by_alice[:2] == ["deploy: api 2.0.0 to dev", "deploy: web 1.4.2 to staging"]
    trailer = git(bot.repo, "log", "--format=%(trailers:key=Opsbot-Command,valueonly)", "-1")
    assert trailer.strip() == "!deploy api 2.0.0 to dev"


def test_every_commit_verifies_with_git_verify_commit(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    bot.say("!freeze prod")
    shas = git(bot.repo, "rev-list", "main").split()
    assert len(shas) == 3
    for sha in shas:
        git(bot.repo, "verify-commit", sha)  # raises if git rejects the signature


def test_repo_passes_git_fsck_after_commands(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    bot.say("!freeze prod for 2h")
    bot.say("!unfreeze prod")
    git(bot.repo, "fsck", "--full", "--strict")


def test_deploying_the_version_already_desired_is_refused(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    head = bot.head()
    reply = bot.say("!deploy web 1.4.2 to staging")
    assert not reply.ok
    assert "already at 1.4.2 in staging" in reply.text
    assert bot.head() == head


def test_a_second_deploy_keeps_comments_a_person_wrote_in_the_file(bot: Bot) -> None:
    bot.say("!deploy web 1.4.2 to staging")
    edited = "# pinned for the demo on Friday\n" + bot.show("deployments/staging/web.toml")
    bot.edit("deployments/staging/web.toml", edited)
    bot.say("!deploy web 1.4.3 to staging")
    text = bot.show("deployments/staging/web.toml")
    assert text.startswith("# pinned for the demo on Friday\n")
    assert 'version = "1.4.3"' in text


def test_rollback_restores_the_previous_version_in_a_new_commit(bot: Bot) -> None:
    bot.say("!deploy web 1.4.1 to prod")
    bot.say("!deploy web 1.4.2 to prod")
    reply = bot.say("!rollback web in prod")
    assert reply.ok, reply.text
    assert reply.text.startswith("rollback: web in prod to 1.4.1 (was 1.4.2)")
    assert 'version = "1.4.1"' in bot.show("deployments/prod/web.toml")
    summaries = git(bot.repo, "log", "-3", "--format=%s").splitlines()
    assert summaries == [
        "rollback: web in prod to 1.4.1 (was 1.4.2)",
        "deploy: web 1.4.2 to prod",
        "deploy: web 1.4.1 to prod",
    ]


def test_rolling_back_twice_goes_two_versions_back(bot: Bot) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        bot.say(f"!deploy web {version} to prod")
    bot.say("!rollback web in prod")
    bot.say("!rollback web in prod")
    assert 'version = "1.0.0"' in bot.show("deployments/prod/web.toml")


def test_rollback_with_no_previous_version_is_refused_and_writes_nothing(bot: Bot) -> None:
    bot.say("!deploy web 1.0.0 to prod")
    head = bot.head()
    reply = bot.say("!rollback web in prod")
    assert not reply.ok
    assert reply.error == "refused"
    assert "no previous version" in reply.text
    assert "!deploy web <version> to prod" in reply.text
    assert bot.head() == head
