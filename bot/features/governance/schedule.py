"""When a freeze window is open: its times, computed in its own time zone.

Three shapes, each a `Schedule` that answers the span open at a moment and the next one:
a cron expression with a duration (`Cron`), a weekly span between two wall-clock times
(`Weekly`, "fri 16:00 - mon 08:00"), and fixed spans (`Spans`: a release, a holiday list).

Times are wall-clock times in the window's IANA zone, made aware with `zoneinfo`, so DST is
the zone's: "fri 16:00 - mon 08:00" ends at 08:00 local time on the Monday after a change of
clocks, and a cron window's duration is that many real hours. A wall-clock time that does not
exist (02:30 on the night clocks go forward) is read as `zoneinfo` reads it (fold 0: with the
offset before the change), one that happens twice as its first time.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

Span = tuple[datetime, datetime]
"""[start, end), aware."""

LONGEST = timedelta(days=7)
"""No window is longer: a longer freeze is a decision for `!freeze`, not a calendar entry."""
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _local(now: datetime, zone: ZoneInfo) -> datetime:
    return now.astimezone(zone).replace(tzinfo=None, microsecond=0)


@dataclass(frozen=True)
class Cron:
    expression: str
    duration: timedelta
    zone: ZoneInfo

    def open_at(self, now: datetime) -> Span | None:
        # Every span is as long as the next: the latest start at or before now is the one
        # that could still be open. croniter's previous fire is strictly before its base.
        base = _local(now, self.zone) + timedelta(seconds=1)
        start = _aware(croniter(self.expression, base).get_prev(datetime), self.zone)
        return (start, start + self.duration) if start <= now < start + self.duration else None

    def next_after(self, now: datetime) -> Span | None:
        start = _aware(
            croniter(self.expression, _local(now, self.zone)).get_next(datetime), self.zone
        )
        return start, start + self.duration


@dataclass(frozen=True)
class Weekly:
    start_day: int  # 0 is Monday
    start: time
    end_day: int
    end: time
    zone: ZoneInfo

    def _span_from(self, day: date) -> Span:
        ahead = (self.end_day - self.start_day) % 7
        if ahead == 0 and self.end <= self.start:
            ahead = 7
        start = _aware(datetime.combine(day, self.start), self.zone)
        end = _aware(datetime.combine(day + timedelta(days=ahead), self.end), self.zone)
        return start, end

    def _starts(self, now: datetime, step: int) -> Iterator[Span]:
        today = now.astimezone(self.zone).date()
        for offset in range(0, 15):
            day = today + timedelta(days=step * offset)
            if day.weekday() == self.start_day:
                yield self._span_from(day)

    def open_at(self, now: datetime) -> Span | None:
        for start, end in self._starts(now, -1):
            if start <= now:
                return (start, end) if now < end else None
        return None

    def next_after(self, now: datetime) -> Span | None:
        return next(((s, e) for s, e in self._starts(now - timedelta(days=1), 1) if s > now), None)


@dataclass(frozen=True)
class Spans:
    spans: tuple[Span, ...]  # sorted by start

    def open_at(self, now: datetime) -> Span | None:
        return next(((s, e) for s, e in self.spans if s <= now < e), None)

    def next_after(self, now: datetime) -> Span | None:
        return next(((s, e) for s, e in self.spans if s > now), None)


Schedule = Cron | Weekly | Spans


def never_fires(expression: str) -> bool:
    """Whether a cron expression names no time that exists (the 30th of February)."""
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except (ValueError, KeyError):
        return True
    return False
