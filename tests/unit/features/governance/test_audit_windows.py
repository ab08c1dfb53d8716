"""The report names the calendar's freeze window open at each change, as the environment's file
declared its windows at that commit: a change into one is an exception, a hotfix's is not."""

from datetime import UTC, datetime

from bot.features.governance.audit_history import FROZEN, REVIEW_EXCEPTIONS, UNREVIEWED
from tests.helpers.audit import audit, commit, deployment
from tests.helpers.bot import Bot

PROD = "environments/prod.toml"
WEB = "deployments/prod/web.toml"
WEEKEND = (
    'order = 3\n\n[[windows]]\nname = "weekend"\nreason = "nobody watches"\n'
    'timezone = "Europe/Berlin"\nevery = "fri 16:00 - mon 08:00"\n'
)
SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NEXT_SATURDAY = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WEDNESDAY = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_a_deploy_inside_a_window_declared_then_names_it_and_is_an_exception(bot: Bot) -> None:
    commit(bot, {PROD: WEEKEND})
    commit(bot, {WEB: deployment("2.0.0")}, at=SATURDAY)
    [change] = audit(bot).deploys
    assert change.window == "weekend"
    assert change.exceptions == (FROZEN,)


def test_a_deploy_outside_the_window_is_not_flagged(bot: Bot) -> None:
    commit(bot, {PROD: WEEKEND})
    commit(bot, {WEB: deployment("2.0.0")}, at=WEDNESDAY)
    [change] = audit(bot).deploys
    assert (change.window, change.exceptions) == (None, ())


def test_a_deploy_at_the_same_wall_time_after_the_window_was_removed_is_not_flagged(
    bot: Bot,
) -> None:
    commit(bot, {PROD: WEEKEND})
    commit(bot, {WEB: deployment("2.0.0")}, at=SATURDAY)
    commit(bot, {PROD: "order = 3\n"}, at=WEDNESDAY)
    commit(bot, {WEB: deployment("2.0.1")}, at=NEXT_SATURDAY)
    assert [(c.after, c.window) for c in audit(bot).deploys] == [
        ("2.0.0", "weekend"),
        ("2.0.1", None),
    ]


def test_a_window_for_other_apps_does_not_flag_this_one(bot: Bot) -> None:
    commit(bot, {PROD: WEEKEND + 'apps = ["api"]\n'})
    commit(
        bot,
        {WEB: deployment("2.0.0"), "deployments/prod/api.toml": deployment("3.0.0")},
        at=SATURDAY,
    )
    assert {c.app: c.window for c in audit(bot).deploys} == {"api": "weekend", "web": None}


def test_a_hotfix_inside_a_window_shows_it_and_is_judged_by_its_review_alone(bot: Bot) -> None:
    commit(bot, {PROD: WEEKEND})
    commit(bot, {WEB: deployment("2.0.1", hotfix="INC-4")}, at=SATURDAY)
    [change] = audit(bot).deploys
    assert (change.window, change.hotfix) == ("weekend", "INC-4")
    assert FROZEN not in change.exceptions
    assert change.exceptions and set(change.exceptions) <= set(REVIEW_EXCEPTIONS)


def test_a_hotfix_during_a_freeze_by_hand_is_judged_by_its_review_alone(bot: Bot) -> None:
    assert bot.say('!freeze prod --reason "release day"').ok
    commit(bot, {WEB: deployment("2.0.1", hotfix="INC-4")})
    [change] = audit(bot).deploys
    assert change.freeze is not None and change.exceptions == (UNREVIEWED,)


def test_a_window_that_does_not_read_names_nothing(bot: Bot) -> None:
    commit(bot, {PROD: WEEKEND.replace("Europe/Berlin", "Mars/Olympus")})
    commit(bot, {WEB: deployment("2.0.0")}, at=SATURDAY)
    [change] = audit(bot).deploys
    assert change.window is None
