"""The audit report of a period, read from the index's rows (bot/features/governance/
audit_index.py) and judged: whether four-eyes held, whether the signature verifies against the
keys allowed at the commit's time, whether a hotfix was reviewed, and what is an exception.

Nothing here reads the clock: the same history, period and keys give the same report.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from bot.features.governance.audit_index import ADOPT, DEPLOY, DISCARD
from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index

# The exceptions, in the order the report lists them.
FOUR_EYES = "four-eyes violated"
UNSIGNED = "unsigned or unverifiable"
LOCKED = "changed while locked"
OVERDUE = "hotfix unreviewed, overdue"
UNREVIEWED = "hotfix unreviewed"
LATE = "hotfix reviewed late"
FROZEN = "change during a freeze"
EXCEPTIONS = (FOUR_EYES, UNSIGNED, LOCKED, OVERDUE, UNREVIEWED, LATE, FROZEN)
REVIEW_EXCEPTIONS = (OVERDUE, UNREVIEWED, LATE)

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
    window: str | None  # the calendar's freeze window open then: its name
    hotfix: str | None
    reason: str | None
    detail: str | None
    signature: str = VERIFIED
    four_eyes: str = ""  # deploys: held, violated, not required, hotfix
    review: str = ""  # hotfixes: who reviewed it and whether late, or unreviewed and due when
    exceptions: tuple[str, ...] = ()
    time: str = ""  # `at` in UTC, as 2026-11-26T12:00:00Z

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


_COLUMNS = (
    "seq, part, sha, at, kind, env, app, before, after, command, requester, approvers, "
    "required, proposal, freeze, lock, window, hotfix, reason, detail, signer, committed, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch'), due, past_lock"  # SQLite's C: fast
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
    found = conn.execute(
        "SELECT value, at FROM meta LEFT JOIN commits ON sha = value WHERE key = 'head'"
    ).fetchone()
    head, tip = (found[0], found[1] or 0) if found else (None, 0)
    reviews = _Reviews(index, tip)
    judge = _Judge(signers)
    changes = []
    for row in rows:
        if env is not None and row[5] is not None and row[5] != env:
            continue
        changes.append(_judged(row, judge, reviews))
    return Report(since, until, env, head, tuple(changes), _counts(changes))


class _Judge:
    """Whether a key was allowed at a time. A key whose lines say nothing of time is judged
    once for every commit it signed; one with valid-after or valid-before, at each commit's."""

    SOME_TIME = 1_000_000_000  # 2001: any time from 1970 to 9999 judges a timeless key alike

    def __init__(self, signers: AllowedSigners | None) -> None:
        self.signers = signers
        self.timeless: dict[bytes, bool | None] = {}
        self.seen: dict[str, tuple[str, ...]] = {}

    def approvers(self, text: str | None) -> tuple[str, ...]:
        """The approvers' list, read once per distinct list (a team has few)."""
        if not text:
            return ()
        found = self.seen.get(text)
        if found is None:
            found = self.seen[text] = tuple(json.loads(text))
        return found

    def __call__(self, key: bytes | None, committed: int) -> str:
        if key is None:
            return NO_SIGNATURE
        signers = self.signers
        if signers is None:
            return NOT_CHECKED
        if key not in self.timeless:
            timeless = signers.timeless(key)
            self.timeless[key] = signers.admits(key, self.SOME_TIME) if timeless else None
        verdict = self.timeless[key]
        if verdict is None or not 0 < committed < 253402300799:
            verdict = signers.admits(key, committed)
        return VERIFIED if verdict else NOT_ALLOWED


def _stamp(at: int) -> str:
    return f"{datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}"


class _Reviews:
    """The hotfix commits reviewed (by whom, in which proposal, when, and when it was due), and
    the verdict on each hotfix's review, as of main's tip (`tip`, its time): the report reads
    no clock, so a review not made is overdue once a commit on main is later than its due."""

    def __init__(self, index: Index, tip: int) -> None:
        self.tip = tip
        self.made: dict[str, tuple[str, int, int | None]] = {}
        rows = index.db.conn.execute(
            "SELECT proposal, reviews, requester, approvers, at, due FROM audit_reviews "
            "ORDER BY proposal"
        )
        for proposal, reviews, requester, approvers, at, due in rows:
            others = [a for a in json.loads(approvers) if a != requester]
            if others and reviews not in self.made:
                said = f"reviewed by {', '.join(others)} (proposal {proposal})"
                self.made[reviews] = (said, at, due)

    def __call__(self, sha: str, due: int | None) -> tuple[str, str | None]:
        """What the report says of the review of the hotfix `sha`, and its exception if any."""
        made = self.made.get(sha)
        if made is None:
            if due is None:
                return "unreviewed", UNREVIEWED
            if self.tip >= due:
                return f"unreviewed, overdue since {_stamp(due)}", OVERDUE
            return f"unreviewed, due {_stamp(due)}", UNREVIEWED
        said, at, promised = made
        due = promised if promised is not None else due
        if due is not None and at > due:
            return f"{said}, late: due {_stamp(due)}, reviewed {_stamp(at)}", LATE
        return said, None


def _judged(row: tuple[Any, ...], judge: _Judge, reviews: _Reviews) -> Change:
    """A row of the index, judged: every field found once, the object made once."""
    kind, requester, approvers_text, hotfix = row[4], row[10] or "", row[11], row[17]
    approvers = judge.approvers(approvers_text)
    required = row[12] or 0
    signature = judge(row[20], row[21])
    exceptions = [] if signature == VERIFIED else [UNSIGNED]
    four_eyes = review = ""
    if kind == DEPLOY:
        four_eyes = _four_eyes(requester, approvers, required, hotfix)
        if four_eyes == "violated":
            exceptions.insert(0, FOUR_EYES)
        if hotfix:
            review, late = reviews(row[2], row[23])
            if late is not None:
                exceptions.append(late)
        if row[24]:
            exceptions.append(LOCKED)
        if (row[14] or row[16]) and not hotfix:
            # A hotfix goes past a freeze by design, as past the approvals: the freeze is
            # shown beside it, and its review is what is judged.
            exceptions.append(FROZEN)
    seq, part, sha, at, _, env, app, before, after, command = row[:10]
    proposal, freeze, lock, window, _, reason, detail = row[13:20]
    return Change(
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
        requester,
        approvers,
        required,
        proposal,
        freeze,
        lock,
        window,
        hotfix,
        reason,
        detail,
        signature,
        four_eyes,
        review,
        tuple(exceptions),
        row[22],
    )


def _four_eyes(
    requester: str, approvers: tuple[str, ...], required: int, hotfix: str | None
) -> str:
    """Held: enough approvers, none of them the requester. A hotfix ships before its approvals
    by design: its review, after, is what is judged."""
    if required == 0 and not approvers:
        return "not required"
    if len({a for a in approvers if a != requester}) >= max(required, 1):
        return "held"
    return "hotfix" if hotfix else "violated"


def _counts(changes: list[Change]) -> dict[str, Counts]:
    per: dict[str, list[int]] = {}
    slot = {"held": 1, "not required": 2, "violated": 3}
    for change in changes:
        if change.kind != DEPLOY or change.env is None:
            continue
        count = per.get(change.env) or per.setdefault(change.env, [0] * 6)
        count[0] += 1
        if change.four_eyes in slot:
            count[slot[change.four_eyes]] += 1
        count[4] += bool(change.hotfix)
        count[5] += bool(change.exceptions)
    return {env: Counts(*c) for env, c in sorted(per.items())}
