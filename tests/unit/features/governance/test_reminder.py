"""The hotfixes that wait for their review are reminded once a day in the announcement rooms,
however often the task runs and whatever restarts."""

from bot.core.effects import Notify
from bot.engine.services import Services
from bot.features.governance.reminder import remind
from tests.helpers.bot import BOB, Bot
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
