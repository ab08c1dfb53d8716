"""A window that does not read is named with its file and line by `opsbot check`, refuses the
changes to its own environment, and breaks nothing else."""

import pytest

from tests.helpers.bot import Bot
from tests.helpers.cli import opsbot


def declare(bot: Bot, *lines: str) -> None:
    body = "\n".join(lines)
    bot.edit("environments/prod.toml", f'order = 3\n\n[[windows]]\nname = "w"\n{body}\n')


@pytest.mark.parametrize(
    ("lines", "line", "says"),
    [
        (('timezone = "UTC"', 'cron = "0 0 30 2 *"', 'duration = "1h"'), 6, "never fires"),
        (('timezone = "UTC"', 'cron = "0 0 * * *"', 'duration = "8d"'), 7, "longer than 7 days"),
        (('timezone = "UTC"', "start = 2026-12-01", "end = 2026-12-20"), 7, "more than 7 days"),
        (('timezone = "Mars/Olympus"', 'every = "fri 16:00 - mon 08:00"'), 5, "IANA time zone"),
        (('timezone = "Europe"', 'every = "fri 16:00 - mon 08:00"'), 5, "IANA time zone"),
        ((f'timezone = "{"a" * 300}"', 'every = "fri 16:00 - mon 08:00"'), 5, "IANA time zone"),
        (('timezone = "UTC"', 'every = "friday at four"'), 6, 'like "fri 16:00 - mon 08:00"'),
        (('timezone = "UTC"', 'every = "fri 16:00 - fri 16:00"'), 6, "covers the whole week"),
        (('timezone = "UTC"', 'every = "fri 16:00 - mon 08:00"', 'duration = "1h"'), 7, "beside"),
        (('timezone = "UTC"',), 3, "needs one of: every, cron"),
    ],
)
def test_a_bad_window_is_named_with_its_file_and_line(
    bot: Bot, lines: tuple[str, ...], line: int, says: str
) -> None:
    declare(bot, *lines)
    problems = [p.message for p in bot.engine.view().problems()]
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"environments/prod.toml: line {line}: windows[0].")
    assert says in problems[0]


def test_opsbot_check_refuses_a_cron_that_never_fires(bot: Bot) -> None:
    declare(bot, 'timezone = "UTC"', 'cron = "0 0 30 2 *"', 'duration = "1h"')
    result = opsbot("check", "--repo", str(bot.repo))
    assert result.returncode != 0
    assert "environments/prod.toml: line 6: windows[0].cron: '0 0 30 2 *' never fires" in (
        result.stdout + result.stderr
    )


def test_a_bad_window_refuses_changes_to_its_environment_saying_what_is_wrong(bot: Bot) -> None:
    declare(bot, 'timezone = "UTC"', 'cron = "0 0 30 2 *"', 'duration = "1h"')
    reply = bot.say("!deploy web 1.4.2 to prod")
    assert not reply.ok
    assert "environments/prod.toml: line 6: windows[0].cron" in reply.text


def test_a_bad_window_breaks_no_other_environment_or_command(bot: Bot) -> None:
    declare(bot, 'timezone = "Mars/Olympus"', 'every = "fri 16:00 - mon 08:00"')
    assert bot.say("!deploy web 1.4.2 to staging").ok
    assert bot.say("!freeze prod").ok
    status = bot.say("!status")
    assert status.ok
    assert "prod: environments/prod.toml has a window that does not read" in status.text
    assert bot.say("!calendar").ok


def test_two_windows_of_one_name_are_refused(bot: Bot) -> None:
    declare(bot, 'timezone = "UTC"', "dates = [2026-12-24]")
    bot.edit(
        "environments/prod.toml",
        bot.show("environments/prod.toml") + '[[windows]]\nname = "w"\ntimezone = "UTC"\n'
        "dates = [2026-12-31]\n",
    )
    problems = [p.message for p in bot.engine.view().problems()]
    assert problems == ["environments/prod.toml: line 8: windows[1].name: 'w' twice"]
