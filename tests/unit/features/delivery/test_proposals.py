"""Approvals on branches: a change to an environment that needs approval waits on
`proposals/<n>` and reaches main only when someone else approves it."""

import pytest

from tests.helpers.bot import ALICE, BOB, CAROL, Bot
from tests.helpers.git import git
from tests.helpers.policies import APPROVERS_POLICY


@pytest.fixture
def gated(bot: Bot) -> Bot:
    """prod needs one approval; bob and carol are deployers who may approve."""
    bot.edit("policy.toml", APPROVERS_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    return bot


def test_a_deploy_to_a_gated_environment_opens_a_proposal_and_leaves_main_alone(gated: Bot) -> None:
    main = gated.head()
    reply = gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    assert reply.ok, reply.text
    assert reply.text.startswith("proposal 1: deploy: web 2.0.0 to prod; prod needs 1 approval")
    assert gated.head() == main
    assert "proposals/1" in git(gated.repo, "branch", "-a")
    assert 'version = "2.0.0"' in gated.show("deployments/prod/web.toml", "proposals/1")
    record = gated.show("proposals/1.toml", "proposals/1")
    assert f'requested_by = "{BOB}"' in record
    assert 'environment = "prod"' in record
    assert "approvals_required = 1" in record
    assert "expires = 2026-11-27T12:00:00Z" in record
    assert 'status = "open"' in record


def test_approval_by_someone_else_merges_with_approved_by_trailers(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    reply = gated.say("!approve 1", sender=CAROL)
    assert reply.ok, reply.text
    assert (
        git(gated.repo, "log", "-1", "--format=%P").split()[1]
        == git(gated.repo, "rev-parse", "proposals/1").strip()
    )
    assert f"Approved-by: {CAROL}" in git(gated.repo, "log", "-1", "--format=%B")
    assert 'version = "2.0.0"' in gated.show("deployments/prod/web.toml")
    git(gated.repo, "verify-commit", "main")
    git(gated.repo, "fsck", "--full")


@pytest.mark.parametrize(
    ("setup", "who", "says"),
    [
        ([], BOB, "you opened proposal 1; someone else must approve it"),
        (["!reject 1"], CAROL, "proposal 1 was rejected by @bob:example.org"),
        (["!approve 1"], CAROL, "proposal 1 was already approved"),
    ],
)
def test_approving_is_refused_with_the_reason(
    gated: Bot, setup: list[str], who: str, says: str
) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    for text in setup:
        assert gated.say(text, sender=BOB if text.startswith("!reject") else CAROL).ok
    head, tip = gated.head(), git(gated.repo, "rev-parse", "proposals/1")
    reply = gated.say("!approve 1", sender=who)
    assert not reply.ok
    assert says in reply.text
    assert (gated.head(), git(gated.repo, "rev-parse", "proposals/1")) == (head, tip)


def test_the_same_person_cannot_approve_twice(gated: Bot) -> None:
    gated.edit("environments/prod.toml", "order = 3\napprovals = 2\n")
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    first = gated.say("!approve 1", sender=CAROL)
    assert first.ok and "it needs 1 more" in first.text
    again = gated.say("!approve 1", sender=CAROL)
    assert "you already approved proposal 1" in again.text
    assert gated.say("!approve 1").ok  # alice, the second approver, merges it
    body = git(gated.repo, "log", "-1", "--format=%B")
    assert f"Approved-by: {CAROL}\nApproved-by: {ALICE}" in body


def test_an_expired_proposal_cannot_be_approved(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.clock.advance(hours=25)
    reply = gated.say("!approve 1", sender=CAROL)
    assert not reply.ok
    assert "proposal 1 expired at" in reply.text


def test_a_proposal_whose_base_moved_in_conflict_cannot_be_approved(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.edit(
        "deployments/prod/web.toml",
        'version = "1.9.0"\nrequested_by = "@a:b"\nrequested_at = 2026-11-26T12:00:00Z\n',
    )
    reply = gated.say("!approve 1", sender=CAROL)
    assert not reply.ok
    assert (
        "conflicts with main: deployments/prod/web.toml changed since it was opened" in reply.text
    )


def test_a_base_that_moved_elsewhere_still_merges(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.say("!deploy api 1.0.0 to dev", sender=BOB)
    assert gated.say("!approve 1", sender=CAROL).ok
    assert 'version = "1.0.0"' in gated.show("deployments/dev/api.toml")
    assert 'version = "2.0.0"' in gated.show("deployments/prod/web.toml")


def test_a_freeze_stops_an_approval_too(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.say("!freeze prod")
    reply = gated.say("!approve 1", sender=CAROL)
    assert "prod is frozen" in reply.text


def test_proposals_lists_the_open_ones(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.say("!deploy api 3.0.0 to prod", sender=BOB)
    gated.say("!reject 2", sender=BOB)
    text = gated.say("!proposals").text
    assert text == (
        "1: deploy: web 2.0.0 to prod by @bob:example.org "
        "(0 of 1 approvals, expires 2026-11-27 12:00 UTC)"
    )


def test_a_redelivered_deploy_does_not_open_a_second_proposal(gated: Bot) -> None:
    first = gated.say("!deploy web 2.0.0 to prod", sender=BOB, event_id="$once")
    again = gated.say("!deploy web 2.0.0 to prod", sender=BOB, event_id="$once")
    assert again.commit == first.commit
    assert "proposals/2" not in git(gated.repo, "branch", "-a")


def test_numbers_are_never_reused(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.say("!reject 1", sender=BOB)
    assert gated.say("!deploy web 2.0.1 to prod", sender=BOB).text.startswith("proposal 2:")
