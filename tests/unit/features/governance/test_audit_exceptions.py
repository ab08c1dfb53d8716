"""The exceptions an auditor asks about, on hand-built histories: each named, four-eyes first."""

import pytest

from bot.features.governance.audit_history import FOUR_EYES, FROZEN, UNREVIEWED
from tests.helpers.audit import audit, commit, deployment, proposal
from tests.helpers.bot import ALICE, BOB, CAROL, Bot
from tests.helpers.policies import APPROVERS_POLICY

HOTFIX = "deployments/prod/web.toml"


@pytest.fixture
def gated(bot: Bot) -> Bot:
    """prod needs one approval; bob and carol deploy and approve each other's."""
    bot.edit("policy.toml", APPROVERS_POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    return bot


def test_an_approved_deploy_holds_four_eyes_and_names_its_approver(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    assert gated.say("!approve 1", sender=CAROL).ok
    [change] = audit(gated).deploys
    assert (change.requester, change.approvers, change.proposal) == (BOB, (CAROL,), 1)
    assert change.four_eyes == "held" and change.exceptions == ()


def test_a_change_with_no_approval_where_one_is_required_violates_four_eyes(gated: Bot) -> None:
    commit(gated, {"deployments/prod/web.toml": deployment("2.0.0")})
    [change] = audit(gated).deploys
    assert change.four_eyes == "violated"
    assert change.exceptions == (FOUR_EYES,)


def test_a_proposal_approved_by_its_own_requester_violates_four_eyes(gated: Bot) -> None:
    commit(
        gated,
        {
            "deployments/prod/web.toml": deployment("2.0.0", by=BOB),
            "proposals/1.toml": proposal(1, BOB, [BOB], environment="prod"),
        },
    )
    [change] = audit(gated).deploys
    assert change.approvers == (BOB,) and change.four_eyes == "violated"


def test_a_change_where_no_approval_is_required_says_so(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to prod").ok
    [change] = audit(bot).deploys
    assert change.four_eyes == "not required" and change.exceptions == ()


def test_four_eyes_violated_shows_first_though_a_freeze_came_earlier(gated: Bot) -> None:
    assert gated.say('!freeze prod --reason "release"').ok
    commit(gated, {"deployments/prod/web.toml": deployment("2.0.0")}, author=ALICE)
    assert gated.say("!unfreeze prod").ok
    commit(gated, {"deployments/prod/api.toml": deployment("3.0.0")})
    listed = [(exception, change.app) for exception, change in audit(gated).exceptions]
    assert listed == [(FOUR_EYES, "web"), (FOUR_EYES, "api"), (FROZEN, "web")]


def test_a_change_during_a_freeze_says_who_froze_it_and_why(bot: Bot) -> None:
    assert bot.say('!freeze prod --reason "release day"').ok
    commit(bot, {"deployments/prod/web.toml": deployment("2.0.0")})
    [change] = audit(bot).deploys
    assert change.freeze == f"frozen by {ALICE}: release day"
    assert FROZEN in change.exceptions


def test_a_hotfix_without_a_review_is_an_exception(gated: Bot) -> None:
    commit(gated, {HOTFIX: deployment("2.0.1", hotfix="INC-4")})
    [change] = audit(gated).deploys
    assert (change.hotfix, change.four_eyes) == ("INC-4", "hotfix")
    assert change.review == "unreviewed, due 2026-11-27T12:00:00Z"
    assert change.exceptions == (UNREVIEWED,)


def test_a_hotfix_reviewed_by_someone_else_is_no_exception(gated: Bot) -> None:
    sha = commit(gated, {HOTFIX: deployment("2.0.1", hotfix="INC-4")})
    review = proposal(2, BOB, [CAROL], kind="review", reviews=sha)
    commit(gated, {"proposals/2.toml": review})
    [change] = audit(gated).deploys
    assert change.review == f"reviewed by {CAROL} (proposal 2)"
    assert change.exceptions == ()


def test_a_hotfix_reviewed_only_by_its_requester_is_unreviewed(gated: Bot) -> None:
    sha = commit(gated, {HOTFIX: deployment("2.0.1", hotfix="INC-4")})
    commit(gated, {"proposals/2.toml": proposal(2, BOB, [BOB], kind="review", reviews=sha)})
    [change] = audit(gated).deploys
    assert change.exceptions == (UNREVIEWED,)


def test_counts_per_environment(gated: Bot) -> None:
    gated.say("!deploy web 2.0.0 to prod", sender=BOB)
    gated.say("!approve 1", sender=CAROL)
    commit(gated, {"deployments/prod/api.toml": deployment("1.0.0")})
    assert gated.say("!deploy web 1.0.0 to dev", sender=BOB).ok
    counts = audit(gated).counts
    assert list(counts) == ["dev", "prod"]
    assert (counts["prod"].changes, counts["prod"].held, counts["prod"].violated) == (2, 1, 1)
    assert (counts["dev"].changes, counts["dev"].not_required, counts["dev"].exceptions) == (
        1,
        1,
        0,
    )
