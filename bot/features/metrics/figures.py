"""The four keys of a window, from the index alone: what `!metrics`, `opsbot metrics`, the
weekly digest and (in part) `/metrics` show. The definitions are the README's "Engineering
metrics"; each figure carries its sample size and its DORA 2023 level, or says there is not
enough data.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from bot.features.metrics import facts, levels
from bot.features.metrics.facts import Day, Scope
from bot.state.index import Index


@dataclass(frozen=True)
class Spread:
    """A median and a 90th percentile (seconds) of `n` values; `median` None: no values."""

    n: int
    median: float | None = None
    p90: float | None = None
    level: str | None = None

    @classmethod
    def of(cls, values: list[float], level: Callable[[float], str] | None = None) -> "Spread":
        if not values:
            return cls(0)
        middle = levels.percentile(values, 0.5)
        return cls(
            len(values), middle, levels.percentile(values, 0.9), level(middle) if level else None
        )


@dataclass(frozen=True)
class Week:
    start: date
    deploys: int  # applied
    ended: int  # applied or finally failed
    failed: int
    lead_median: float | None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.ended if self.ended else None


@dataclass(frozen=True)
class Report:
    scope: str
    since: datetime
    until: datetime
    deploys: int  # successful applies in the window
    days: float
    deploy_days: int
    bucket: str
    frequency_level: str | None
    lead_time: Spread
    lead_sources: dict[str, int]  # "commit" / "build" / "request": how many lead times used it
    changes: int  # deploys that ended (applied or finally failed) in the window
    failed: int
    failure_level: str | None
    deploy_restore: Spread
    incident_restore: Spread
    acknowledge: Spread
    mitigate: Spread
    open_incidents: dict[str, int]
    weeks: list[Week] = field(default_factory=list)
    pending: int = 0  # asked for in the window, not applied or failed yet: not counted

    @property
    def per_day(self) -> float:
        return self.deploys / self.days if self.days else 0.0

    @property
    def deploy_days_per_week(self) -> float:
        return self.deploy_days / (self.days / 7) if self.days else 0.0

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.changes if self.changes else None


def report(index: Index, scope: Scope, since: datetime, until: datetime) -> Report:
    start, end = int(since.timestamp()), int(until.timestamp())
    days = facts.days(index, scope, start, end)
    incidents = facts.incidents(index, scope, start, end)
    applied = {_date_of(d.day): d.applied for d in days if d.applied}
    deploys = sum(applied.values())
    changes, failed = sum(d.ended for d in days), sum(d.failed for d in days)
    bucket = levels.frequency_bucket(applied, since.date(), until.date() + timedelta(1))
    sources = {"commit": 0, "build": 0, "request": 0}
    for d in days:
        for source, n in d.sources.items():
            sources[source] += n
    resolved = [i for i in incidents if i.resolved_at is not None]
    return Report(
        scope=scope.describe(),
        since=since,
        until=until,
        deploys=deploys,
        days=(until - since).total_seconds() / 86400,
        deploy_days=len(applied),
        bucket=bucket,
        frequency_level=levels.BUCKET_LEVEL.get(bucket),
        lead_time=Spread.of([n for d in days for n in d.leads], levels.lead_time_level),
        lead_sources=sources,
        changes=changes,
        failed=failed,
        failure_level=levels.failure_level(failed / changes) if changes else None,
        deploy_restore=Spread.of([n for d in days for n in d.restores], levels.restore_level),
        incident_restore=Spread.of(
            [float(i.resolved_at - i.opened_at) for i in resolved if i.resolved_at],
            levels.restore_level,
        ),
        acknowledge=Spread.of(
            [
                float(i.acknowledged_at - i.opened_at)
                for i in incidents
                if i.acknowledged_at is not None
            ]
        ),
        mitigate=Spread.of(
            [float(i.mitigated_at - i.opened_at) for i in incidents if i.mitigated_at is not None]
        ),
        open_incidents=_open_by_severity(index),
        weeks=_weeks(days, since, until),
        pending=facts.pending(index, scope, start, end),
    )


def failures_and_restores(
    index: Index,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(env, app) -> failed deploys, and -> those restored since, over all of history."""
    return facts.failures_and_restores(index)


def _open_by_severity(index: Index) -> dict[str, int]:
    rows = index.db.conn.execute(
        "SELECT severity, COUNT(*) FROM incidents WHERE status != 'resolved' GROUP BY severity"
    ).fetchall()
    return {severity: count for severity, count in rows}


EPOCH = date(1970, 1, 1)


def _date_of(days: int) -> date:
    return EPOCH + timedelta(days=days)


def _weeks(days: list[Day], since: datetime, until: datetime) -> list[Week]:
    """Deploys, failures and the median lead time per week (Monday to Sunday, UTC)."""
    monday = since.date() - timedelta(days=since.weekday())
    weeks: dict[date, list[Day]] = {}
    while monday <= until.date():
        weeks[monday] = []
        monday += timedelta(days=7)
    for day in days:
        when = _date_of(day.day)
        weeks.setdefault(when - timedelta(days=when.weekday()), []).append(day)
    out = []
    for start, group in sorted(weeks.items()):
        lead = [n for d in group for n in d.leads]
        out.append(
            Week(
                start,
                sum(d.applied for d in group),
                sum(d.ended for d in group),
                sum(d.failed for d in group),
                median(lead) if lead else None,
            )
        )
    return out
