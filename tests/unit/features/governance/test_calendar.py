"""`!calendar` lists the windows open now and coming next; `!status` says the freeze open now
and the next window, per environment."""

from datetime import UTC, datetime

from tests.helpers.bot import Bot
from tests.unit.features.governance.test_windows import WEEKEND

RELEASE = """
[[windows]]
name = "release"
reason = "2.0 goes out"
timezone = "UTC"
start = 2026-12-02T09:00:00
end = 2026-12-02T11:00:00
apps = ["web"]
"""


def test_calendar_lists_the_next_windows_soonest_first(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND + RELEASE)
    lines = bot.say("!calendar prod").text.splitlines()
    assert lines[:4] == [
        "prod",
        '  "weekend" Fri 2026-11-27 16:00 - Mon 2026-11-30 08:00 Europe/Berlin: nobody is '
        "around to watch",
        '  "release" Wed 2026-12-02 09:00 - 11:00 UTC (only web): 2.0 goes out',
        '  "weekend" Fri 2026-12-04 16:00 - Mon 2026-12-07 08:00 Europe/Berlin: nobody is '
        "around to watch",
    ]


def test_calendar_marks_the_window_open_now(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND)
    bot.clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert bot.say("!calendar prod").text.splitlines()[1].startswith('  now "weekend" Fri')


def test_calendar_says_which_environments_have_no_windows(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND)
    assert bot.say("!calendar").text.splitlines()[:2] == [
        "dev: no freeze windows",
        "staging: no freeze windows",
    ]


def test_status_shows_the_next_window_per_environment(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND)
    lines = bot.say("!status").text.splitlines()
    assert lines[-2:] == ["freeze windows", '  prod: next "weekend" Fri 16:00 Europe/Berlin']


def test_status_shows_the_freeze_open_now_and_the_window_after_it(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND + RELEASE)
    bot.clock.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert bot.say("!status prod").text.splitlines()[-1] == (
        '  prod: in the "weekend" freeze until Mon 08:00 Europe/Berlin; '
        'next "release" Wed 09:00 UTC'
    )
