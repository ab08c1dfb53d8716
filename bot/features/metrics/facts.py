"""The deploys and incidents of a window, read from the index (index.py).

A deploy is a request on main for a version of an app in an environment (a row of the
index's `deployments`); what became of it comes from the reconciler's notes: applied at its
first `ok` outcome, failed at a final `failed` one. Requests still pending, superseded or with
no hook to run are not deploys the metrics count.

One query reads a window's requests newest first (the index's own order backwards: no sort),
with what SQL can say of each row alone (rollback or not, cause of an incident, where its lead
time starts); one pass in Python then judges each against the next request of its app and
environment, and sums the window per day. SQL window functions (LAG, a running MIN per app
and environment) gave the same numbers, but SQLite sorts the rows into partitions first and
took longer than the whole Python pass.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.state.index import Index

MARGIN = 7 * 86400  # requests made this long before the window may be applied inside it
FAILURE_WINDOW = 7 * 86400
"""A rollback or `!redeploy` of the same app and environment this soon after a deploy (as the
next request there) says the deploy failed."""
NOT_CHANGES = ("rollback", "redeploy")
"""Requests that bring back a version already made: deploys, but no change with a lead time."""
DAY = 86400


@dataclass(frozen=True)
class Scope:
    """Which deploys count: all, one environment's, or one app's."""

    env: str | None = None
    app: str | None = None

    def where(self) -> tuple[str, list[str]]:
        # `+`: a filter on the rows of the window's range, never a reason to read the whole
        # history of the environment or app by its index and sort it by commit again.
        if self.env is not None:
            return " AND +d.env = ?", [self.env]
        if self.app is not None:
            return " AND +d.app = ?", [self.app]
        return "", []

    def describe(self) -> str:
        return self.env or self.app or "all apps and environments"


@dataclass(frozen=True)
class IncidentFact:
    id: str
    severity: str
    status: str
    opened_at: int
    acknowledged_at: int | None
    mitigated_at: int | None
    resolved_at: int | None
    cause: str | None


@dataclass
class Day:
    """The deploys of the scope that ended (applied, or failed for good) on one UTC day."""

    day: int  # days since 1970-01-01
    applied: int
    ended: int
    failed: int
    leads: list[float]  # seconds, one per applied change whose start is known
    restores: list[float]  # seconds from a failed deploy's end to the next apply there
    sources: dict[str, int]  # where each lead time started: commit, build or request


def _requests(index: Index, scope: Scope, since: int) -> list[tuple[Any, ...]]:
    """Every request of the scope from shortly before `since` on, newest first: the commits
    on main (in index order, `rowid`) from the first one made `MARGIN` before it. Each row:
    (target, seq, is a rollback or redeploy, requested at, applied at, failed for good at,
    named as an incident's cause, where its lead time starts, and from what). The lead time
    runs from the version's metadata when a CI recorded it (its source commit's time, else its
    build time), else from the version's first request in any environment."""
    where, args = scope.where()
    return index.db.conn.execute(
        f"""
        SELECT d.env || '/' || d.app, d.seq, d.kind IN {NOT_CHANGES}, d.requested_at,
               d.applied_at, CASE WHEN d.applied_at IS NULL THEN d.failed_at END,
               d.sha IN (SELECT cause FROM incidents WHERE cause IS NOT NULL),
               COALESCE(v.committed_at, v.built_at, d.first_requested_at),
               CASE WHEN v.committed_at IS NOT NULL THEN 'commit'
                    WHEN v.built_at IS NOT NULL THEN 'build' ELSE 'request' END
        FROM deployments d LEFT JOIN versions v ON v.app = d.app AND v.version = d.version
        WHERE d.rowid >= (SELECT MIN(rowid) FROM deployments WHERE at >= ?)
          AND d.version IS NOT NULL{where}
        ORDER BY d.rowid DESC
        """,
        [since - MARGIN, *args],
    ).fetchall()


Judged = tuple[str, int, int | None, bool, int | None, bool, int | None, str]
"""A deploy that ended in the window: (target, ended at, applied at, failed, restored at,
is a rollback or redeploy, where its lead time starts, and from what)."""


def _judged(rows: list[tuple[Any, ...]], start: int, end: int) -> Iterator[Judged]:
    """The deploys among `rows` (newest first) that ended in [start, end), judged.

    One pass, newest first (no sort: the index order backwards), keeping for each app and
    environment the request after the current one and the earliest apply of any later
    request. Failed: its apply gave up, the next request there rolled it back or asked for it
    again soon after, or an incident names it as its cause (counted once, whichever and
    however many); restored at that earliest later apply.
    """
    after: dict[str, tuple[int, int, int | None]] = {}  # the next request, and the soonest apply
    done = None
    for target, seq, back, asked, applied, failed_at, caused, began, source in rows:
        if seq == done:
            continue  # a commit that wrote several records is one deploy: its last record
        done = seq
        following = after.get(target)
        soonest = following[2] if following is not None else None
        ended = applied if applied is not None else failed_at
        if ended is not None and start <= ended < end:
            failed = (
                applied is None
                or bool(caused)
                or (
                    following is not None
                    and bool(following[0])
                    and following[1] - ended <= FAILURE_WINDOW
                )
            )
            yield target, ended, applied, failed, soonest, bool(back), began, source
        if applied is not None and (soonest is None or applied < soonest):
            soonest = applied
        after[target] = (back, asked, soonest)


def pending(index: Index, scope: Scope, start: int, end: int) -> int:
    """Deploys asked for in [start, end] that have neither applied nor failed for good: they
    count once the reconciler has settled them (its notes), which `opsbot shell` never runs."""
    where, args = scope.where()
    row = index.db.conn.execute(
        f"""
        SELECT COUNT(DISTINCT d.seq) FROM deployments d
        WHERE d.requested_at >= ? AND d.requested_at <= ? AND d.version IS NOT NULL
          AND d.applied_at IS NULL AND d.failed_at IS NULL{where}
        """,
        [start, end, *args],
    ).fetchone()
    return int(row[0])


def days(index: Index, scope: Scope, start: int, end: int) -> list[Day]:
    """The deploys that ended in [start, end), summed per day, oldest first."""
    found: dict[int, Day] = {}
    for _, ended, applied, failed, restored, back, began, source in _judged(
        _requests(index, scope, start), start, end
    ):
        day = found.get(ended // DAY)
        if day is None:
            day = found[ended // DAY] = Day(
                ended // DAY, 0, 0, 0, [], [], {"commit": 0, "build": 0, "request": 0}
            )
        day.ended += 1
        if applied is not None:
            day.applied += 1
            if not back and began is not None:
                day.leads.append(float(max(0, applied - began)))
                day.sources[source] += 1
        if failed:
            day.failed += 1
            if restored is not None:
                day.restores.append(float(restored - ended))
    return [found[day] for day in sorted(found)]


def failures_and_restores(
    index: Index,
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(env, app) -> failed deploys, and -> those restored since, over all of history."""
    failures: dict[tuple[str, str], int] = defaultdict(int)
    restores: dict[tuple[str, str], int] = defaultdict(int)
    for target, _, _, failed, restored, _, _, _ in _judged(
        _requests(index, Scope(), MARGIN), -(2**62), 2**62
    ):
        if failed:
            env, _, app = target.partition("/")
            failures[env, app] += 1
            if restored is not None:
                restores[env, app] += 1
    return dict(failures), dict(restores)


def incidents(index: Index, scope: Scope, start: int, end: int) -> list[IncidentFact]:
    """Incidents opened in [start, end): all of them, or for an app or an environment, those
    whose cause is one of its requests from shortly before the window on."""
    where, args = scope.where()
    mine = (
        ""
        if scope == Scope()
        else " AND EXISTS (SELECT 1 FROM deployments d WHERE d.sha = i.cause "
        "AND d.rowid >= (SELECT MIN(rowid) FROM deployments WHERE at >= ?) "
        f"AND d.version IS NOT NULL{where})"
    )
    rows = index.db.conn.execute(
        "SELECT id, severity, status, opened_at, acknowledged_at, mitigated_at, resolved_at, "
        f"cause FROM incidents i WHERE opened_at >= ? AND opened_at < ?{mine} ORDER BY number",
        [start, end, *([start - MARGIN, *args] if mine else [])],
    ).fetchall()
    return [IncidentFact(*row) for row in rows]
