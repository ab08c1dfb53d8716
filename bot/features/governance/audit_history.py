"""The audit report of a period, read from the index's rows (bot/features/governance/
audit_index.py) and judged (bot/features/governance/audit_judge.py): whether four-eyes held,
whether the signature verifies against the keys allowed at the commit's time, whether a hotfix
was reviewed in time, and what is an exception.

A year is a hundred thousand rows: each change is a named tuple made straight from its row,
and a row with nothing to say (most of them) is judged by a few dictionary lookups.
Nothing here reads the clock: the same history, period and keys give the same report.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, NamedTuple

from bot.features.governance.audit_index import ADOPT, DEPLOY, DISCARD
from bot.features.governance.audit_judge import (
    LATE,
    NO_SIGNATURE,
    NOT_ALLOWED,
    NOT_CHECKED,
    OVERDUE,
    UNREVIEWED,
    VERIFIED,
    FourEyes,
    Reviews,
    Signatures,
    Teams,
    uncollected,
)
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index

__all__ = [
    "EXCEPTIONS",
    "FOUR_EYES",
    "FROZEN",
    "LATE",
    "LOCKED",
    "NOT_ALLOWED",
    "NOT_CHECKED",
    "NO_SIGNATURE",
    "OVERDUE",
    "REVIEW_EXCEPTIONS",
    "UNREVIEWED",
    "UNSIGNED",
    "VERIFIED",
    "Change",
    "Counts",
    "Report",
    "report",
]

# The exceptions, in the order the report lists them.
FOUR_EYES = "four-eyes violated"
UNSIGNED = "unsigned or unverifiable"
LOCKED = "changed while locked"
FROZEN = "change during a freeze"
EXCEPTIONS = (FOUR_EYES, UNSIGNED, LOCKED, OVERDUE, UNREVIEWED, LATE, FROZEN)
REVIEW_EXCEPTIONS = (OVERDUE, UNREVIEWED, LATE)


class Change(NamedTuple):
    sha: str
    kind: str  # deploy, role, key, rule, adopt, discard
    env: str | None
    app: str | None
    before: str | None
    after: str | None
    command: str | None
    requester: str
    required: int
    proposal: int | None
    freeze: str | None
    lock: str | None
    window: str | None  # the calendar's freeze window open then: its name
    hotfix: str | None
    reason: str | None
    detail: str | None
    time: str  # in UTC, as 2026-11-26T12:00:00Z
    approvers: tuple[str, ...] = ()
    signature: str = VERIFIED
    four_eyes: str = ""  # deploys: held, violated, not required, hotfix
    review: str = ""  # hotfixes: who reviewed it and whether late, or unreviewed and due when
    exceptions: tuple[str, ...] = ()

    def listed(self, key: str) -> list[str]:
        """`commits`, `files` or `left_out` of an adopt or a discard."""
        try:
            data = json.loads(self.detail or "{}")
        except ValueError:
            return []
        value = data.get(key, []) if isinstance(data, dict) else []
        return [str(v) for v in value]


@dataclass(frozen=True)
class Counts:
    changes: int = 0
    held: int = 0
    not_required: int = 0
    violated: int = 0
    hotfixes: int = 0
    exceptions: int = 0


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime | None  # None: to the end of the history indexed
    env: str | None
    head: str | None  # main's commit the history ends at
    changes: tuple[Change, ...]
    counts: dict[str, Counts] = field(default_factory=dict)

    @cached_property
    def deploys(self) -> list[Change]:
        return [c for c in self.changes if c.kind == DEPLOY]

    @cached_property
    def governance(self) -> list[Change]:
        """Role, key and approval-rule changes."""
        return [c for c in self.changes if c.kind not in (DEPLOY, ADOPT, DISCARD)]

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @cached_property
    def exceptions(self) -> list[tuple[str, Change]]:
        """Each exception with its change, four-eyes first, then in history's order."""
        found = [c for c in self.changes if c.exceptions]
        return [(e, c) for e in EXCEPTIONS for c in found if e in c.exceptions]


# Change's first fields, in its order (the time formatted by SQLite), then what is judged.
_COLUMNS = (
    "sha, kind, env, app, before, after, command, coalesce(requester, ''), "
    "coalesce(required, 0), proposal, freeze, lock, window, hotfix, reason, detail, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch'), approvers, signer, committed, due, "
    "past_lock"
)
_FIELDS = 17
_SLOTS = ("held", "not required", "violated")


@uncollected()
def report(
    index: Index,
    signers: AllowedSigners | None,
    since: datetime,
    until: datetime | None = None,
    env: str | None = None,
) -> Report:
    conn = index.db.conn
    end = int(until.timestamp()) if until else 2**62
    # Read in the table's own order, (seq, part), with no sorting and no index: a report reads
    # most of the table, and a year's is a hundred thousand rows.
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_changes WHERE at >= ? AND at < ? "
        "AND (? IS NULL OR env IS NULL OR env = ?) ORDER BY seq, part",
        [int(since.timestamp()), end, env, env],
    )
    found = conn.execute(
        "SELECT value, at FROM meta LEFT JOIN commits ON sha = value WHERE key = 'head'"
    ).fetchone()
    head, tip = (found[0], found[1] or 0) if found else (None, 0)
    reviews = Reviews(index, tip)
    signatures = Signatures(signers)
    known, teams, four_eyes = signatures.known, Teams(), FourEyes()
    per: dict[str, list[int]] = {}
    changes: list[Change] = []
    new = tuple.__new__
    latest = signatures.LATEST
    for row in rows:
        kind, where, requester, required = row[1], row[2], row[7], row[8]
        freeze, window, hotfix, signer, committed = row[10], row[12], row[13], row[18], row[19]
        signature = (known.get(signer) if 0 < committed < latest else None) or signatures(
            signer, committed
        )
        team = teams[row[17]]
        if kind != DEPLOY:
            exceptions: tuple[str, ...] = () if signature == VERIFIED else (UNSIGNED,)
            changes.append(new(Change, (*row[:_FIELDS], team, signature, "", "", exceptions)))
            continue
        verdict = four_eyes[requester, team, required, hotfix is not None]
        review = ""
        exceptions = ()
        if signature != VERIFIED or verdict == "violated" or hotfix or freeze or window or row[21]:
            review, exceptions = _flagged(row, signature, verdict, reviews)
        changes.append(new(Change, (*row[:_FIELDS], team, signature, verdict, review, exceptions)))
        if where is not None:
            count = per.get(where) or per.setdefault(where, [0] * 6)
            count[0] += 1
            if verdict in _SLOTS:
                count[_SLOTS.index(verdict) + 1] += 1
            count[4] += hotfix is not None
            count[5] += bool(exceptions)
    counts = {name: Counts(*c) for name, c in sorted(per.items())}
    return Report(since, until, env, head, tuple(changes), counts)


def _flagged(
    row: tuple[Any, ...], signature: str, four_eyes: str, reviews: Reviews
) -> tuple[str, tuple[str, ...]]:
    """A change to an environment with something to say (a fifth of them): its review, and
    its exceptions in the report's order."""
    hotfix, past_lock = row[13], row[21]
    listed = [FOUR_EYES] if four_eyes == "violated" else []
    if signature != VERIFIED:
        listed.append(UNSIGNED)
    if past_lock:
        listed.append(LOCKED)
    review = ""
    if hotfix:
        review, late = reviews(row[0], row[20])
        if late is not None:
            listed.append(late)
    if (row[10] or row[12]) and not hotfix:
        # A hotfix goes past a freeze by design, as past the approvals: the freeze is shown
        # beside it, and its review is what is judged.
        listed.append(FROZEN)
    return review, tuple(listed)
