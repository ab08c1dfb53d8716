"""The hotfixes that wait for their review are reminded once a day in the announcement rooms,
however often the task runs and whatever restarts."""

from bot.core.effects import Notify
from bot.engine.services import Services
from bot.features.governance.reminder import remind
from tests.helpers.bot import BOB, Bot
from tests.helpers.git import git
from tests.unit.features.governance.test_hotfix import HOTFIX, POLICY


def reminders(bot: Bot) -> list[tuple[str, str]]:
    return [
        (o.identity, o.effect.text)
        for o in bot.engine.ledger.due()
        if isinstance(o.effect, Notify) and o.identity.startswith("governance:reviews:")
    ]


def hotfixed(bot: Bot) -> Bot:
    bot.edit("policy.toml", POLICY)
    bot.say("!incident open sev1 Logins fail", sender=BOB)
    assert bot.say(HOTFIX, sender=BOB).ok
    return bot


async def test_an_unreviewed_hotfix_is_reminded_once_a_day(bot: Bot) -> None:
    hotfixed(bot)
    await remind(Services(bot.engine))
    await remind(Services(bot.engine))  # an hour later, or after a restart: the same day
    assert reminders(bot) == [
        (
            "governance:reviews:2026-11-26",
            "1 hotfix(es) wait for their review (by someone else, !approve <n>):\n"
            f"  1: review: hotfix deploy web 1.4.3 to prod for INC-1 by {BOB}, due "
            "2026-11-27 12:00 UTC",
        )
    ]


async def test_the_next_day_brings_the_next_reminder(bot: Bot) -> None:
    hotfixed(bot)
    await remind(Services(bot.engine))
    bot.clock.advance(days=1)
    await remind(Services(bot.engine))
    assert [identity for identity, _ in reminders(bot)] == [
        "governance:reviews:2026-11-26",
        "governance:reviews:2026-11-27",
    ]
    assert "overdue since" in reminders(bot)[1][1]


async def test_no_reminder_once_the_hotfix_is_reviewed(bot: Bot) -> None:
    hotfixed(bot)
    assert bot.say("!approve 1").ok
    await remind(Services(bot.engine))
    assert reminders(bot) == []


async def test_a_hotfix_whose_review_a_crash_kept_from_opening_gets_it_once(bot: Bot) -> None:
    # The hotfix commit alone, as a crash between its two commits would leave it.
    sha = bot.edit(
        "deployments/prod/web.toml",
        f'version = "1.4.3"\nrequested_by = "{BOB}"\nrequested_at = 2026-11-26T11:00:00Z\n'
        'command = "deploy"\nhotfix = "INC-1"\n',
    )
    await remind(Services(bot.engine))
    await remind(Services(bot.engine))
    assert git(bot.repo, "branch", "--list", "proposals/*").split() == ["proposals/1"]
    record = bot.show("proposals/1.toml", "proposals/1")
    assert f'reviews = "{sha}"' in record
    assert "due = 2026-11-27T11:00:00Z" in record
