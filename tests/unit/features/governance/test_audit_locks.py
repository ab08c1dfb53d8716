"""A lock stops everyone but its holder, so opsbot never makes a change past someone else's
lock; a push adopted later can. The report names such a change: changed while locked, by whom."""

from bot.features.governance import audit_formats
from bot.features.governance.audit_history import LOCKED, UNSIGNED
from bot.state.signing import SigningKey
from tests.helpers.audit import audit, commit, deployment
from tests.helpers.bot import ALICE, BOB, Bot

WEB = "deployments/prod/web.toml"


def test_a_pushed_change_by_someone_else_while_locked_is_an_exception(bot: Bot) -> None:
    assert bot.say('!lock prod --reason "migrating the database"').ok
    commit(bot, {WEB: deployment("2.0.0", by=BOB)}, author=BOB, key=SigningKey.generate())
    [change] = audit(bot).deploys
    assert change.lock == f"locked by {ALICE}: migrating the database"
    assert change.exceptions == (UNSIGNED, LOCKED)


def test_the_exceptions_list_says_whose_lock_it_was(bot: Bot) -> None:
    assert bot.say('!lock prod --reason "migrating the database"').ok
    commit(bot, {WEB: deployment("2.0.0", by=BOB)}, author=BOB, key=SigningKey.generate())
    text = audit_formats.as_markdown(audit(bot))
    [line] = [row for row in text.splitlines() if row.startswith(f"| {LOCKED} ")]
    assert f"in prod: locked by {ALICE}: migrating the database | {BOB} |" in line


def test_the_lock_holders_own_change_is_no_exception(bot: Bot) -> None:
    assert bot.say('!lock prod --reason "migrating the database"').ok
    assert bot.say("!deploy web 2.0.0 to prod").ok
    [change] = audit(bot).deploys
    assert change.lock is not None and change.exceptions == ()


def test_someone_else_is_refused_while_locked_so_nothing_is_listed(bot: Bot) -> None:
    assert bot.say('!lock dev --reason "migrating the database"').ok
    assert bot.say("!grant @bob:example.org deployer").ok
    refused = bot.say("!deploy web 2.0.0 to dev", sender=BOB)
    assert not refused.ok and f"dev is locked by {ALICE}" in refused.text
    assert audit(bot).deploys == []
