"""Window times in their own time zone, across the changes of clocks (Europe/Berlin goes to
summer time on 2026-03-29 and back on 2026-10-25)."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.features.governance.schedule import Cron, Weekly, never_fires

BERLIN = ZoneInfo("Europe/Berlin")
WEEKEND = Weekly(4, time(16, 0), 0, time(8, 0), BERLIN)  # fri 16:00 - mon 08:00


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_weekend_into_summer_time_ends_at_eight_local_an_hour_earlier_in_utc() -> None:
    assert WEEKEND.open_at(utc(2026, 3, 28, 12)) == (utc(2026, 3, 27, 15), utc(2026, 3, 30, 6))


def test_a_weekend_out_of_summer_time_ends_at_eight_local_an_hour_later_in_utc() -> None:
    assert WEEKEND.open_at(utc(2026, 10, 24, 12)) == (utc(2026, 10, 23, 14), utc(2026, 10, 26, 7))


def test_a_weekly_window_is_closed_between_its_end_and_its_next_start() -> None:
    assert WEEKEND.open_at(utc(2026, 3, 30, 6)) is None
    assert WEEKEND.next_after(utc(2026, 3, 30, 6)) == (utc(2026, 4, 3, 14), utc(2026, 4, 6, 6))


def test_a_cron_window_keeps_its_wall_clock_time_across_the_change() -> None:
    nightly = Cron("0 1 * * *", timedelta(hours=1), BERLIN)
    assert nightly.open_at(utc(2026, 3, 28, 0, 30)) == (utc(2026, 3, 28, 0), utc(2026, 3, 28, 1))
    assert nightly.open_at(utc(2026, 3, 29, 23, 30)) == (utc(2026, 3, 29, 23), utc(2026, 3, 30))


def test_a_cron_window_at_a_time_the_spring_change_skips_still_opens_that_night() -> None:
    skipped = Cron("30 2 * * *", timedelta(hours=1), BERLIN)  # 02:30 does not exist on 29 March
    span = skipped.open_at(utc(2026, 3, 29, 1, 45))
    assert span is not None and span[0].date() == datetime(2026, 3, 29).date()


def test_a_cron_windows_duration_is_real_hours_across_the_autumn_change() -> None:
    overnight = Cron("0 0 * * *", timedelta(hours=4), BERLIN)
    start, end = overnight.open_at(utc(2026, 10, 25, 1)) or (None, None)
    assert start == utc(2026, 10, 24, 22) and end == utc(2026, 10, 25, 2)


def test_a_cron_expression_for_the_thirtieth_of_february_never_fires() -> None:
    assert never_fires("0 0 30 2 *")
    assert not never_fires("0 0 29 2 *")
