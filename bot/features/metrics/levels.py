"""Where a figure falls: the DORA 2023 performance levels, and the Four Keys frequency buckets.

Sources (the README's "Engineering metrics" says the same, for people):
- DORA, *Accelerate State of DevOps Report 2023*, software delivery performance levels: elite
  (on demand; lead time under a day; 5% failed changes; recovery under an hour), high (between
  once a day and once a week; a day to a week; 10%; under a day), medium (between once a week
  and once a month; a week to a month; 15%; a day to a week), low (the rest; 64%; a month to
  six months). The report gives each level's change failure rate as one value; a rate is put in
  the best level whose value it does not exceed.
- Google's Four Keys (github.com/dora-team/fourkeys, the dashboard's deployment frequency
  query): over the weeks of the window, Daily if the median week has 3 or more days with a
  deploy; else Weekly if the median week has a deploy; else Monthly if the median week's month
  had a week with a deploy; else Yearly. "On demand" is ours: Daily, and the median day with a
  deploy had 2 or more.
"""

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from statistics import median

HOUR, DAY = 3600.0, 86400.0
WEEK, MONTH = 7 * DAY, 30 * DAY
NOT_ENOUGH = "not enough data"

BUCKET_LEVEL = {
    "on demand": "elite",
    "daily": "high",
    "weekly": "high",
    "monthly": "medium",
    "yearly": "low",
}


def frequency_bucket(per_day: Mapping[date, int], start: date, end: date) -> str:
    """The Four Keys bucket for `per_day[day]` deploys on each day with any, between `start`
    and `end` (exclusive); "not enough data" with no deploy at all."""
    if not per_day:
        return NOT_ENOUGH
    weeks = _weeks(start, end)
    per_week: dict[date, set[date]] = {w: set() for w in weeks}
    for day in per_day:
        per_week.setdefault(_monday(day), set()).add(day)
    deployed = {w: 1 if per_week[w] else 0 for w in weeks}
    monthly: dict[tuple[int, int], int] = {}
    for w in weeks:
        monthly[(w.year, w.month)] = monthly.get((w.year, w.month), 0) + deployed[w]
    if median(len(per_week[w]) for w in weeks) >= 3:
        return "on demand" if median(per_day.values()) >= 2 else "daily"
    if median(deployed[w] for w in weeks) >= 1:
        return "weekly"
    if median(monthly[(w.year, w.month)] for w in weeks) >= 1:
        return "monthly"
    return "yearly"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _weeks(start: date, end: date) -> list[date]:
    """The Mondays of the weeks the window touches, partial weeks included (as Four Keys)."""
    weeks, week = [], _monday(start)
    while week < end:
        weeks.append(week)
        week += timedelta(days=7)
    return weeks or [_monday(start)]


def lead_time_level(seconds: float) -> str:
    return _below(seconds, ((DAY, "elite"), (WEEK, "high"), (MONTH, "medium")))


def restore_level(seconds: float) -> str:
    return _below(seconds, ((HOUR, "elite"), (DAY, "high"), (WEEK, "medium")))


def failure_level(rate: float) -> str:
    for limit, level in ((0.05, "elite"), (0.10, "high"), (0.15, "medium")):
        if rate <= limit:
            return level
    return "low"


def _below(value: float, limits: tuple[tuple[float, str], ...]) -> str:
    for limit, level in limits:
        if value < limit:
            return level
    return "low"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as SQL's PERCENTILE_CONT (Four Keys' median)."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)
