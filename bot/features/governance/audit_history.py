"""The audit report of a period, read from the index's rows (bot/features/governance/
audit_index.py) and judged: whether four-eyes held, whether the signature verifies against the
keys allowed at the commit's time, whether a hotfix was reviewed, and what is an exception.

Nothing here reads the clock: the same history, period and keys give the same report.
"""

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from bot.features.governance.audit_index import ADOPT, DEPLOY, DISCARD
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index

# The exceptions, in the order the report lists them.
FOUR_EYES = "four-eyes violated"
UNSIGNED = "unsigned or unverifiable"
UNREVIEWED = "hotfix unreviewed"
FROZEN = "change during a freeze"
EXCEPTIONS = (FOUR_EYES, UNSIGNED, UNREVIEWED, FROZEN)

VERIFIED = "verified"
NO_SIGNATURE = "unsigned or bad signature"
NOT_ALLOWED = "key not allowed at that time"
NOT_CHECKED = "not checked: no allowed-signers file"


@dataclass(frozen=True)
class Change:
    seq: int
    part: int
    sha: str
    at: int
    kind: str  # deploy, role, key, rule, adopt, discard
    env: str | None
    app: str | None
    before: str | None
    after: str | None
    command: str | None
    requester: str
    approvers: tuple[str, ...]
    required: int
    proposal: int | None
    freeze: str | None
    lock: str | None
    window: str | None  # a calendar freeze window, where the index knows it
    hotfix: str | None
    reason: str | None
    detail: str | None
    signature: str = VERIFIED
    four_eyes: str = ""  # deploys: held, violated, not required, hotfix
    review: str = ""  # hotfixes: who reviewed it, or "unreviewed"
    exceptions: tuple[str, ...] = ()

    @property
    def time(self) -> str:
        return f"{datetime.fromtimestamp(self.at, UTC):%Y-%m-%dT%H:%M:%SZ}"

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

    @property
    def deploys(self) -> list[Change]:
        return [c for c in self.changes if c.kind == DEPLOY]

    @property
    def governance(self) -> list[Change]:
        """Role, key and approval-rule changes."""
        return [c for c in self.changes if c.kind not in (DEPLOY, ADOPT, DISCARD)]

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def exceptions(self) -> list[tuple[str, Change]]:
        """Each exception with its change, four-eyes first, then in history's order."""
        return [(e, c) for e in EXCEPTIONS for c in self.changes if e in c.exceptions]


_COLUMNS = (
    "seq, part, sha, at, kind, env, app, before, after, command, requester, approvers, "
    "required, proposal, freeze, lock, window, hotfix, reason, detail, signer, committed"
)


def report(
    index: Index,
    signers: AllowedSigners | None,
    since: datetime,
    until: datetime | None = None,
    env: str | None = None,
) -> Report:
    conn = index.db.conn
    end = int(until.timestamp()) if until else 2**62
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_changes WHERE at >= ? AND at < ? ORDER BY seq, part",
        [int(since.timestamp()), end],
    ).fetchall()
    reviews = _reviews(index)
    judge = _Judge(signers)
    changes = []
    for row in rows:
        if env is not None and row[5] is not None and row[5] != env:
            continue
        changes.append(_judged(row, judge, reviews))
    head = conn.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
    return Report(since, until, env, head[0] if head else None, tuple(changes), _counts(changes))


class _Judge:
    """Whether a key was allowed at a time, asked once per key and time."""

    def __init__(self, signers: AllowedSigners | None) -> None:
        self.signers = signers
        self.known: dict[tuple[bytes, int], bool] = {}

    def __call__(self, key: bytes | None, committed: int) -> str:
        if key is None:
            return NO_SIGNATURE
        if self.signers is None:
            return NOT_CHECKED
        verdict = self.known.get((key, committed))
        if verdict is None:
            verdict = self.known[key, committed] = self.signers.admits(key, committed)
        return VERIFIED if verdict else NOT_ALLOWED


def _reviews(index: Index) -> dict[str, str]:
    """The hotfix commits reviewed: by whom, in which proposal."""
    found: dict[str, str] = {}
    rows = index.db.conn.execute(
        "SELECT proposal, reviews, requester, approvers FROM audit_reviews ORDER BY proposal"
    )
    for proposal, reviews, requester, approvers in rows:
        others = [a for a in json.loads(approvers) if a != requester]
        if others and reviews not in found:
            found[reviews] = f"reviewed by {', '.join(others)} (proposal {proposal})"
    return found


def _judged(row: tuple[Any, ...], judge: _Judge, reviews: dict[str, str]) -> Change:
    seq, part, sha, at, kind, env, app, before, after, command, requester = row[:11]
    change = Change(
        seq,
        part,
        sha,
        at,
        kind,
        env,
        app,
        before,
        after,
        command,
        requester or "",
        approvers=tuple(json.loads(row[11])) if row[11] else (),
        required=row[12] or 0,
        proposal=row[13],
        freeze=row[14],
        lock=row[15],
        window=row[16],
        hotfix=row[17],
        reason=row[18],
        detail=row[19],
    )
    signature = judge(row[20], row[21])
    exceptions = [] if signature == VERIFIED else [UNSIGNED]
    four_eyes = review = ""
    if change.kind == DEPLOY:
        four_eyes = _four_eyes(change)
        if four_eyes == "violated":
            exceptions.append(FOUR_EYES)
        if change.hotfix:
            review = reviews.get(change.sha, "unreviewed")
            if review == "unreviewed":
                exceptions.append(UNREVIEWED)
        if change.freeze or change.window:
            exceptions.append(FROZEN)
    return replace(
        change,
        signature=signature,
        four_eyes=four_eyes,
        review=review,
        exceptions=tuple(e for e in EXCEPTIONS if e in exceptions),
    )


def _four_eyes(change: Change) -> str:
    """Held: enough approvers, none of them the requester. A hotfix ships before its approvals
    by design: its review, after, is what is judged."""
    others = {a for a in change.approvers if a != change.requester}
    if change.required == 0 and not change.approvers:
        return "not required"
    if len(others) >= max(change.required, 1):
        return "held"
    return "hotfix" if change.hotfix else "violated"


def _counts(changes: list[Change]) -> dict[str, Counts]:
    per: dict[str, Counter[str]] = {}
    for change in changes:
        if change.kind != DEPLOY or change.env is None:
            continue
        count = per.setdefault(change.env, Counter())
        count["changes"] += 1
        count[change.four_eyes] += 1
        count["hotfixes"] += bool(change.hotfix)
        count["exceptions"] += bool(change.exceptions)
    return {
        env: Counts(
            c["changes"],
            c["held"],
            c["not required"],
            c["violated"],
            c["hotfixes"],
            c["exceptions"],
        )
        for env, c in sorted(per.items())
    }
