"""The four keys of a window, from the index alone: what `!metrics`, `opsbot metrics`, the
weekly digest and (in part) `/metrics` show. The definitions are the README's "Engineering
metrics"; each figure carries its sample size and its DORA 2023 level, or says there is not
enough data.
"""

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from bot.metrics import facts, levels
from bot.metrics.facts import Deploy, Scope
from bot.state.index import Index

FAILURE_WINDOW = 7 * 86400
"""A rollback or `!redeploy` of the same app and environment this soon after a deploy (as the
next request there) says the deploy failed."""
NOT_CHANGES = ("rollback", "redeploy")
"""Requests that bring back a version already made: deploys, but no change with a lead time."""


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
        return cls(len(values), middle, levels.percentile(values, 0.9),
                   level(middle) if level else None)  # fmt: skip


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
    every = facts.deploys(index, scope, start)
    failed, restore = _judge(every)
    inside = [d for d in every if d.ended_at is not None and start <= d.ended_at < end]
    applied = [d for d in inside if d.applied_at is not None]
    leads, sources = _lead_times(index, applied)
    days = (until - since).total_seconds() / 86400
    applied_days = [_day(d.applied_at) for d in applied if d.applied_at is not None]
    bucket = levels.frequency_bucket(applied_days, since.date(), until.date() + timedelta(1))
    bad = [d for d in inside if d.sha in failed]
    incidents = _incidents_in(index, scope, every, start, end)
    resolved = [i for i in incidents if i.resolved_at is not None]
    return Report(
        scope=scope.describe(), since=since, until=until, deploys=len(applied), days=days,
        deploy_days=len(set(applied_days)), bucket=bucket,
        frequency_level=levels.BUCKET_LEVEL.get(bucket),
        lead_time=Spread.of(list(leads.values()), levels.lead_time_level),
        lead_sources=sources, changes=len(inside), failed=len(bad),
        failure_level=levels.failure_level(len(bad) / len(inside)) if inside else None,
        deploy_restore=Spread.of(
            [restore[d.sha] for d in bad if d.sha in restore], levels.restore_level
        ),
        incident_restore=Spread.of(
            [float(i.resolved_at - i.opened_at) for i in resolved if i.resolved_at],
            levels.restore_level,
        ),
        acknowledge=Spread.of([float(i.acknowledged_at - i.opened_at)
                               for i in incidents if i.acknowledged_at is not None]),
        mitigate=Spread.of([float(i.mitigated_at - i.opened_at)
                            for i in incidents if i.mitigated_at is not None]),
        open_incidents=_open_by_severity(index),
        weeks=_weeks(inside, failed, leads, since, until),
    )  # fmt: skip


def _judge(every: list[Deploy]) -> tuple[set[str], dict[str, float]]:
    """The deploys that failed, and for those restored since, how long it took: from the
    failed deploy's end to the next successful apply of that app and environment."""
    by_target: dict[tuple[str, str], list[Deploy]] = defaultdict(list)
    for deploy in every:
        by_target[deploy.env, deploy.app].append(deploy)
    failed: set[str] = set()
    restore: dict[str, float] = {}
    for requests in by_target.values():
        # The earliest successful apply among the requests after each one, in one pass back.
        first_after: list[int | None] = [None] * len(requests)
        soonest: int | None = None
        for i in range(len(requests) - 1, -1, -1):
            first_after[i] = soonest
            applied = requests[i].applied_at
            if applied is not None and (soonest is None or applied < soonest):
                soonest = applied
        for i, deploy in enumerate(requests):
            ended = deploy.ended_at
            following = requests[i + 1] if i + 1 < len(requests) else None
            if ended is None or not _failed(deploy, following):
                continue
            failed.add(deploy.sha)
            restored = first_after[i]
            if restored is not None:
                restore[deploy.sha] = float(restored - ended)
    return failed, restore


def failures_and_restores(
    index: Index,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(env, app) -> failed deploys, and -> those restored since, over all of history."""
    every = facts.deploys(index, Scope(), facts.MARGIN)
    failed, restore = _judge(every)
    failures: dict[tuple[str, str], int] = defaultdict(int)
    restores: dict[tuple[str, str], int] = defaultdict(int)
    for deploy in every:
        if deploy.sha in failed:
            failures[deploy.env, deploy.app] += 1
        if deploy.sha in restore:
            restores[deploy.env, deploy.app] += 1
    return dict(failures), dict(restores)


def _failed(deploy: Deploy, following: Deploy | None) -> bool:
    """Failed: its apply gave up, the next request there rolled it back or asked for it again
    soon after, or an incident names it as its cause. Counted once, whichever and however
    many."""
    if deploy.applied_at is None or deploy.causes:
        return True
    ended = deploy.ended_at or 0
    return (
        following is not None
        and following.kind in NOT_CHANGES
        and following.requested_at - ended <= FAILURE_WINDOW
    )


def _lead_times(index: Index, applied: list[Deploy]) -> tuple[dict[str, float], dict[str, int]]:
    changes = [d for d in applied if d.kind not in NOT_CHANGES]
    pairs = {(d.app, d.version) for d in changes}
    made = facts.built(index, pairs)
    leads: dict[str, float] = {}
    sources = {"commit": 0, "build": 0, "request": 0}
    for deploy in changes:
        assert deploy.applied_at is not None
        known = made.get((deploy.app, deploy.version))
        begin, source = known if known else (deploy.first_requested_at, "request")
        if begin is None:
            continue
        leads[deploy.sha] = float(max(0, deploy.applied_at - begin))
        sources[source] += 1
    return leads, sources


def _incidents_in(
    index: Index, scope: Scope, every: list[Deploy], start: int, end: int
) -> list[facts.IncidentFact]:
    """Incidents opened in the window: all of them, or for an app or an environment, those
    whose cause is one of its deploys."""
    mine = {d.sha for d in every}
    return [
        i
        for i in facts.incidents(index)
        if start <= i.opened_at < end
        and (scope == Scope() or (i.cause is not None and i.cause in mine))
    ]


def _open_by_severity(index: Index) -> dict[str, int]:
    rows = index.db.conn.execute(
        "SELECT severity, COUNT(*) FROM incidents WHERE status != 'resolved' GROUP BY severity"
    ).fetchall()
    return {severity: count for severity, count in rows}


EPOCH = date(1970, 1, 1)


def _day(ts: int) -> date:
    return _date_of(ts // 86400)


@functools.lru_cache(maxsize=4096)
def _date_of(days: int) -> date:
    return EPOCH + timedelta(days=days)


def _weeks(
    inside: Iterable[Deploy], failed: set[str], leads: dict[str, float], since: datetime,
    until: datetime,
) -> list[Week]:  # fmt: skip
    """Deploys, failures and the median lead time per week (Monday to Sunday, UTC)."""
    monday = since.date() - timedelta(days=since.weekday())
    weeks: dict[date, list[Deploy]] = {}
    while monday <= until.date():
        weeks[monday] = []
        monday += timedelta(days=7)
    for deploy in inside:
        assert deploy.ended_at is not None
        day = _day(deploy.ended_at)
        weeks.setdefault(day - timedelta(days=day.weekday()), []).append(deploy)
    out = []
    for start, group in sorted(weeks.items()):
        lead = [leads[d.sha] for d in group if d.sha in leads]
        out.append(Week(start, sum(1 for d in group if d.applied_at is not None), len(group),
                        sum(1 for d in group if d.sha in failed),
                        median(lead) if lead else None))  # fmt: skip
    return out
