"""A hotfix's review has a deadline: approved after it, the hotfix was reviewed late; still open
past it, the hotfix is unreviewed and overdue. Both are exceptions, listed with when the review
was due and when it was made; the report judges them as of main's tip, reading no clock."""

from datetime import UTC, datetime

import pytest

from bot.features.governance import audit_formats
from bot.features.governance.audit_history import LATE, OVERDUE, UNREVIEWED
from tests.helpers.audit import audit, commit, deployment, proposal
from tests.helpers.bot import ALICE, BOB, CAROL, Bot

WEB = "deployments/prod/web.toml"
REVIEW = "proposals/2.toml"
DUE = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a day after the hotfix was asked for
POLICY = f"""
[roles.admin]
members = ["{ALICE}"]

[roles.oncall]
members = ["{BOB}", "{CAROL}"]
commands = ["deploy", "approve", "hotfix", "incident open"]
"""


def _hotfix(bot: Bot) -> str:
    return commit(bot, {WEB: deployment("2.0.1", hotfix="INC-4")})


def _reviewed(bot: Bot, sha: str, at: datetime) -> None:
    review = proposal(2, BOB, [CAROL], due=DUE, kind="review", reviews=sha)
    commit(bot, {REVIEW: review}, at=at)


def test_a_review_approved_after_it_was_due_is_reviewed_late(bot: Bot) -> None:
    _reviewed(bot, _hotfix(bot), datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    [change] = audit(bot).deploys
    assert change.exceptions == (LATE,)
    assert change.review == (
        f"reviewed by {CAROL} (proposal 2), late: due 2026-11-27T12:00:00Z, "
        "reviewed 2026-11-28T09:30:00Z"
    )


def test_a_review_approved_in_time_is_no_exception(bot: Bot) -> None:
    _reviewed(bot, _hotfix(bot), datetime(2026, 11, 27, 11, 0, tzinfo=UTC))
    [change] = audit(bot).deploys
    assert (change.review, change.exceptions) == (f"reviewed by {CAROL} (proposal 2)", ())


def test_a_review_still_open_past_its_due_is_unreviewed_and_overdue(bot: Bot) -> None:
    _hotfix(bot)
    commit(bot, {"deployments/dev/web.toml": deployment("3.0.0")}, at=DUE)
    change = audit(bot).deploys[0]
    assert change.review == "unreviewed, overdue since 2026-11-27T12:00:00Z"
    assert change.exceptions == (OVERDUE,)


def test_a_review_still_open_before_its_due_is_unreviewed_and_says_when_it_is_due(
    bot: Bot,
) -> None:
    _hotfix(bot)
    [change] = audit(bot).deploys
    assert (change.review, change.exceptions) == (
        "unreviewed, due 2026-11-27T12:00:00Z",
        (UNREVIEWED,),
    )


def test_the_deadline_is_the_one_the_policy_of_that_time_set(bot: Bot) -> None:
    bot.edit("policy.toml", POLICY + "\n[hotfix]\nreview_within_hours = 4\n")
    _hotfix(bot)
    [change] = audit(bot).deploys
    assert change.review == "unreviewed, due 2026-11-26T16:00:00Z"


def test_the_exceptions_list_says_when_a_late_review_was_due_and_made(bot: Bot) -> None:
    _reviewed(bot, _hotfix(bot), datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    text = audit_formats.as_markdown(audit(bot))
    [line] = [row for row in text.splitlines() if row.startswith(f"| {LATE} ")]
    assert "due 2026-11-27T12:00:00Z, reviewed 2026-11-28T09:30:00Z" in line


@pytest.fixture
def incident(bot: Bot) -> Bot:
    bot.edit("policy.toml", POLICY)
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    assert bot.say("!incident open sev1 Logins fail", sender=BOB).ok
    return bot


def test_a_hotfix_whose_review_is_approved_a_day_late_is_reviewed_late(incident: Bot) -> None:
    hotfix = '!deploy web 1.4.3 to prod --hotfix INC-1 --reason "fixes the login loop"'
    assert incident.say(hotfix, sender=BOB).ok
    incident.clock.advance(hours=48)
    assert incident.say("!approve 1", sender=CAROL).ok
    [change] = audit(incident).deploys
    assert change.exceptions == (LATE,)
    assert change.review.endswith("due 2026-11-27T12:00:00Z, reviewed 2026-11-28T12:00:00Z")
