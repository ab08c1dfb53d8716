"""Freeze windows on a calendar: a change made into a window of `environments/<env>.toml` is
refused with when the freeze ends and why; `!freeze` by hand works as before."""

from datetime import UTC, datetime

import pytest

from tests.helpers.bot import BOB, CAROL, Bot
from tests.helpers.policies import APPROVERS_POLICY

WEEKEND = """order = 3
proposal_expiry_hours = 96

[[windows]]
name = "weekend"
reason = "nobody is around to watch"
timezone = "Europe/Berlin"
every = "fri 16:00 - mon 08:00"
"""
# The clock's Thursday 2026-11-26 12:00 UTC; Friday 16:00 in Berlin (UTC+1) is 15:00 UTC.
FRIDAY_EVENING = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


@pytest.fixture
def weekend(bot: Bot) -> Bot:
    bot.edit("environments/prod.toml", WEEKEND)
    return bot


def test_a_deploy_into_a_window_is_refused_with_until_when_and_why(weekend: Bot) -> None:
    weekend.clock.now = FRIDAY_EVENING
    head = weekend.head()
    reply = weekend.say("!deploy web 1.4.2 to prod")
    assert not reply.ok
    assert reply.text.startswith(
        'refused: prod is in the "weekend" freeze until Mon 08:00 Europe/Berlin '
        '("nobody is around to watch"); wait until then (!calendar prod)'
    )
    assert weekend.head() == head


def test_a_deploy_before_the_window_opens_passes(weekend: Bot) -> None:
    assert weekend.say("!deploy web 1.4.2 to prod").ok


def test_the_window_closes_at_its_end_in_its_own_time_zone(weekend: Bot) -> None:
    weekend.clock.now = datetime(2026, 11, 30, 6, 59, tzinfo=UTC)  # Mon 07:59 in Berlin
    assert not weekend.say("!deploy web 1.4.2 to prod").ok
    weekend.clock.advance(minutes=1)
    assert weekend.say("!deploy web 1.4.2 to prod").ok


def test_a_window_stops_rollback_and_promote_too(weekend: Bot) -> None:
    weekend.say("!deploy web 1.0.0 to prod")
    weekend.say("!deploy web 1.1.0 to prod")
    weekend.say("!deploy web 1.2.0 to staging")
    weekend.clock.now = FRIDAY_EVENING
    assert "freeze until" in weekend.say("!rollback web in prod").text
    assert "freeze until" in weekend.say("!promote web from staging to prod").text


def test_a_window_leaves_other_environments_open(weekend: Bot) -> None:
    weekend.clock.now = FRIDAY_EVENING
    assert weekend.say("!deploy web 1.4.2 to staging").ok


def test_a_window_for_some_apps_leaves_the_others_open(bot: Bot) -> None:
    bot.edit("environments/prod.toml", WEEKEND + 'apps = ["api"]\n')
    bot.clock.now = FRIDAY_EVENING
    assert bot.say("!deploy web 1.4.2 to prod").ok
    assert "freeze until" in bot.say("!deploy api 2.0.0 to prod").text


def test_a_proposal_waiting_when_a_window_opens_is_refused_at_approval(bot: Bot) -> None:
    bot.edit("policy.toml", APPROVERS_POLICY)
    bot.edit("environments/prod.toml", WEEKEND.replace("order = 3", "order = 3\napprovals = 1"))
    assert bot.say("!deploy web 2.0.0 to prod", sender=BOB).ok
    bot.clock.now = FRIDAY_EVENING
    reply = bot.say("!approve 1", sender=CAROL)
    assert not reply.ok
    assert reply.text.endswith("; approve it after Mon 08:00 Europe/Berlin, before it expires")
    bot.clock.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert bot.say("!approve 1", sender=CAROL).ok


def test_a_manual_freeze_works_as_before_beside_windows(weekend: Bot) -> None:
    weekend.say("!freeze prod for 1h")
    assert "prod is frozen until 13:00 UTC" in weekend.say("!deploy web 1.4.2 to prod").text


def test_windows_back_to_back_are_one_freeze_until_the_last_ends(bot: Bot) -> None:
    release = '\n[[windows]]\nname = "release"\ntimezone = "Europe/Berlin"\n'
    release += "start = 2026-11-30T08:00:00\nend = 2026-11-30T12:00:00\n"
    bot.edit("environments/prod.toml", WEEKEND + release)
    bot.clock.now = FRIDAY_EVENING
    text = bot.say("!deploy web 1.4.2 to prod").text
    assert 'in the "weekend" freeze until Mon 12:00 Europe/Berlin' in text


def test_dates_freeze_each_whole_day_in_the_windows_time_zone(bot: Bot) -> None:
    holidays = '[[windows]]\nname = "holidays"\ntimezone = "America/New_York"\n'
    holidays += "dates = [2026-11-26]\n"
    bot.edit("environments/prod.toml", "order = 3\n" + holidays)
    assert "until Fri 00:00 America/New_York" in bot.say("!deploy web 1.4.2 to prod").text
    bot.clock.now = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # midnight in New York
    assert bot.say("!deploy web 1.4.2 to prod").ok


def test_a_cron_window_opens_at_each_time_it_names_for_its_duration(bot: Bot) -> None:
    nightly = '[[windows]]\nname = "backup"\ntimezone = "UTC"\ncron = "0 12 * * *"\n'
    bot.edit("environments/prod.toml", "order = 3\n" + nightly + 'duration = "30m"\n')
    assert "until 12:30 UTC" in bot.say("!deploy web 1.4.2 to prod").text.replace("Thu ", "")
    bot.clock.advance(minutes=30)
    assert bot.say("!deploy web 1.4.2 to prod").ok
