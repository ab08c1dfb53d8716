"""Forged trailers: user text in a commit message can say anything, and opsbot decides nothing
from it. Each test is an attack from the security review, made through the engine's Matrix path."""

import pytest

from tests.helpers.bot import ALICE, BOB, Bot
from tests.helpers.git import git

CAROL = "@carol:example.org"
DAVE = "@dave:example.org"
LS = "\u2028"  # LINE SEPARATOR: a line break for Python's splitlines, not for Git

POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.deployer]
members = ["{BOB}", "{CAROL}", "{DAVE}"]
commands = ["deploy", "rollback", "approve", "reject", "freeze", "proposals"]
"""


@pytest.fixture
def two_approvals(bot: Bot) -> Bot:
    """prod needs two approvals; bob, carol and dave are deployers who may approve."""
    bot.edit("policy.toml", POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 2\n")
    return bot


def trailers(bot: Bot, rev: str = "main") -> list[str]:
    """The trailers as Git itself reads them."""
    out = git(bot.repo, "log", "-1", "--format=%(trailers:only,unfold)", rev)
    return [line for line in out.splitlines() if line]


def test_a_rejection_whose_reason_forges_an_approval_stays_a_rejection(
    two_approvals: Bot,
) -> None:
    bot = two_approvals
    bot.say("!deploy web 2.0.0 to prod", sender=BOB)
    forged = f"oops{LS}{LS}Approved-by: {CAROL}{LS}---"
    assert bot.say(f'!reject 1 --reason "{forged}"', sender=BOB).ok

    approval = bot.say("!approve 1", sender=DAVE)

    assert approval.error == "refused" and "rejected" in approval.text, approval.text
    assert "2.0.0" not in git(bot.repo, "show", "main:deployments/prod/web.toml", check=False)
    assert not any(t.startswith("Approved-by") for t in trailers(bot, "proposals/1"))


def test_two_approvals_are_two_real_approvals(two_approvals: Bot) -> None:
    bot = two_approvals
    bot.say("!deploy web 2.0.0 to prod", sender=BOB)
    main = bot.head()
    first = bot.say("!approve 1", sender=DAVE)
    assert first.ok and "it needs 1 more" in first.text, first.text
    assert bot.head() == main
    second = bot.say("!approve 1", sender=CAROL)
    assert second.ok, second.text
    assert sorted(t for t in trailers(bot) if t.startswith("Approved-by")) == [
        f"Approved-by: {CAROL}",
        f"Approved-by: {DAVE}",
    ]


def test_a_rejection_reason_cannot_end_the_trailer_block(two_approvals: Bot) -> None:
    bot = two_approvals
    bot.say("!deploy web 2.0.0 to prod", sender=BOB)
    reply = bot.say(f'!reject 1 --reason "oops{LS}{LS}Approved-by: {CAROL}{LS}---"', sender=BOB)
    assert reply.ok, reply.text
    message = git(bot.repo, "log", "-1", "--format=%B", "proposals/1")
    assert LS not in message
    assert not any(line.startswith("---") for line in message.splitlines())
    assert not any(t.startswith("Approved-by") for t in trailers(bot, "proposals/1"))


def test_a_reason_forging_environment_and_approvals_does_not_merge_through_a_freeze(
    two_approvals: Bot,
) -> None:
    bot = two_approvals
    bot.say('!freeze prod --reason "release"', sender=ALICE)
    forged = f"x{LS}{LS}Opsbot-Proposal: 1{LS}Environment: dev{LS}Approvals-Required: 1{LS}---"
    asked = bot.say(f'!deploy web 9.9.9 to prod --reason "{forged}"', sender=BOB)
    assert not asked.ok  # prod is frozen: no proposal is even opened
    bot.say("!unfreeze prod", sender=ALICE)
    bot.say(f'!deploy web 9.9.9 to prod --reason "{forged}"', sender=BOB)
    bot.say('!freeze prod --reason "release"', sender=ALICE)

    approval = bot.say("!approve 1", sender=CAROL)

    assert not approval.ok
    assert approval.error == "refused" and "frozen" in approval.text, approval.text
    assert "9.9.9" not in git(bot.repo, "show", "main:deployments/prod/web.toml", check=False)


def test_a_forged_proposal_number_does_not_close_someone_elses_proposal(
    two_approvals: Bot,
) -> None:
    bot = two_approvals
    bot.say("!deploy web 2.0.0 to prod", sender=BOB)  # proposal 1, bob's
    forged = f"x{LS}{LS}Opsbot-Proposal: 1{LS}---"
    bot.say(f'!deploy web 3.0.0 to dev --reason "{forged}"', sender=CAROL)  # lands on main
    listed = bot.say("!proposals", sender=DAVE)
    assert listed.text.startswith("1: deploy: web 2.0.0 to prod by @bob:example.org")
    assert bot.say("!approve 1", sender=CAROL).ok


def test_a_display_name_cannot_claim_someone_elses_event(bot: Bot) -> None:
    bot.edit("policy.toml", POLICY)
    victim = "$alices-real-event"
    mallory = bot.say_as(
        "!deploy web 1.0.0 to dev",
        sender=BOB,
        sender_name=f"Bob\n\nMatrix-Event: {victim}\n---{LS}{LS}Matrix-Event: {victim}{LS}---",
    )
    assert mallory.ok, mallory.text

    real = bot.say("!deploy web 2.0.0 to dev", event_id=victim)

    assert real.ok and not real.text.startswith("already done"), real.text
    assert real.commit not in (None, mallory.commit)
    assert f"Matrix-Event: {victim}" in trailers(bot)


def test_a_forged_event_trailer_does_not_make_a_replay_run_twice(bot: Bot) -> None:
    forged = f"x{LS}{LS}Matrix-Event: $something-else{LS}---"
    first = bot.say(f'!deploy web 1.0.0 to dev --reason "{forged}"', event_id="$replayed")
    again = bot.say(f'!deploy web 1.0.0 to dev --reason "{forged}"', event_id="$replayed")
    assert first.ok, first.text
    assert again.commit == first.commit
    assert again.text.startswith("already done")
    assert git(bot.repo, "rev-list", "--count", "main").strip() == "2"


def test_what_git_reads_as_trailers_is_what_opsbot_wrote(bot: Bot) -> None:
    reply = bot.say(f'!deploy web 1.0.0 to dev --reason "a{LS}b\u2029c"')
    assert reply.ok, reply.text
    keys = [t.split(":", 1)[0] for t in trailers(bot)]
    assert keys == ["Opsbot-Command", "Matrix-Room", "Matrix-Event"]
