"""The report reads signed trees and records, never commit messages; and it says what changed
in who may do what."""

from bot.features.governance.audit_history import VERIFIED
from tests.helpers.audit import audit, commit, deployment
from tests.helpers.bot import ALICE, BOB, CAROL, Bot

LYING = f"""deploy: web 2.0.0 to prod

Requested by Carol in #ops.

Opsbot-Command: !deploy web 2.0.0 to prod
Requested-by: {CAROL}
Approved-by: {BOB}"""


def test_a_commit_message_lying_about_the_requester_changes_nothing(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 1\n")
    commit(bot, {"deployments/prod/web.toml": deployment("2.0.0", by=BOB)}, message=LYING)
    [change] = audit(bot).deploys
    assert (change.requester, change.approvers, change.four_eyes) == (BOB, (), "violated")


def test_the_version_before_and_after_come_from_the_records(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to dev").ok
    assert bot.say("!deploy web 1.1.0 to dev --reason 'the login fix'").ok
    latest = audit(bot).deploys[-1]
    assert (latest.before, latest.after, latest.reason) == ("1.0.0", "1.1.0", "the login fix")


def test_granting_and_revoking_a_role_says_who_and_by_whom(bot: Bot) -> None:
    assert bot.say(f"!grant {BOB} deployer").ok
    assert bot.say(f"!revoke {BOB} deployer").ok
    listed = [(c.detail, c.requester, c.signature) for c in audit(bot).governance[-2:]]
    assert listed == [
        (f"{BOB} added to deployer", ALICE, VERIFIED),
        (f"{BOB} removed from deployer", ALICE, VERIFIED),
    ]


def test_pinning_a_key_is_a_key_change(bot: Bot) -> None:
    key = "A" * 43
    assert bot.say(f"!trust {BOB} {key}").ok
    [change] = [c for c in audit(bot).governance if c.kind == "key"]
    assert change.detail == f"{BOB} identity: none -> ed25519 AAAAAAAAAAAA..."


def test_lowering_the_approvals_an_environment_requires_is_listed(bot: Bot) -> None:
    bot.edit("environments/prod.toml", "order = 3\napprovals = 2\n")
    bot.edit("environments/prod.toml", "order = 3\napprovals = 0\n")
    rules = [c.detail for c in audit(bot, env="prod").governance if c.kind == "rule"]
    assert rules == ["prod requires 2 approval(s), was 0", "prod requires 0 approval(s), was 2"]


def test_one_environment_leaves_the_others_changes_out(bot: Bot) -> None:
    assert bot.say("!deploy web 1.0.0 to dev").ok
    assert bot.say("!deploy web 1.0.0 to prod").ok
    assert [c.env for c in audit(bot, env="prod").deploys] == ["prod"]
