"""The audit report's verdicts, each reached once per distinct question: whether a key was
allowed at a commit's time, whether four-eyes held for a requester and an approvers' list,
and whether a hotfix's review was made in time. A year has a hundred thousand changes and few
distinct keys, teams and reviews: each verdict is a dictionary lookup after the first.

Nothing here reads the clock: the same history and keys give the same verdicts."""

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from bot.state.allowed_signers import AllowedSigners
from bot.state.index import Index

VERIFIED = "verified"
NO_SIGNATURE = "unsigned or bad signature"
NOT_ALLOWED = "key not allowed at that time"
NOT_CHECKED = "not checked: no allowed-signers file"

OVERDUE = "hotfix unreviewed, overdue"
UNREVIEWED = "hotfix unreviewed"
LATE = "hotfix reviewed late"


@contextmanager
def uncollected() -> Iterator[None]:
    """The cycle collector paused while a report is made or written (as a decorator): a year
    is a few hundred thousand rows, tuples and lists, none in a cycle, and the collector would
    walk them over and over as they pile up (a tenth to a fifth of the time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Signatures:
    """Whether a key was allowed at a time. A key whose lines say nothing of time is judged
    once for every commit it signed (then found in `known`); one with valid-after or
    valid-before, at each commit's (`__call__`)."""

    SOME_TIME = 1_000_000_000  # 2001: any time from 1970 to 9999 judges a timeless key alike
    LATEST = 253402300799  # 9999-12-31T23:59:59Z: git verifies no commit time past it

    def __init__(self, signers: AllowedSigners | None) -> None:
        self.signers = signers
        self.known: dict[bytes | None, str] = {None: NO_SIGNATURE}
        self.timed: set[bytes] = set()

    def __call__(self, key: bytes | None, committed: int) -> str:
        signers = self.signers
        if key is None:
            return NO_SIGNATURE
        if signers is None:
            self.known[key] = NOT_CHECKED
            return NOT_CHECKED
        if key in self.timed or not 0 < committed < self.LATEST:
            return VERIFIED if signers.admits(key, committed) else NOT_ALLOWED
        if not signers.timeless(key):
            self.timed.add(key)
            return self(key, committed)
        found = self.known[key] = VERIFIED if signers.admits(key, self.SOME_TIME) else NOT_ALLOWED
        return found


class Teams(dict[str, tuple[str, ...]]):
    """The approvers' lists (JSON in the index), each read once."""

    def __missing__(self, text: str) -> tuple[str, ...]:
        found = self[text] = tuple(json.loads(text)) if text else ()
        return found


class FourEyes(dict[tuple[str, tuple[str, ...], int, bool], str]):
    """Held: enough approvers, none of them the requester. A hotfix ships before its approvals
    by design: its review, after, is what is judged. Keyed (requester, approvers, required,
    hotfix)."""

    def __missing__(self, key: tuple[str, tuple[str, ...], int, bool]) -> str:
        requester, approvers, required, hotfix = key
        if required == 0 and not approvers:
            found = "not required"
        elif len({a for a in approvers if a != requester}) >= max(required, 1):
            found = "held"
        else:
            found = "hotfix" if hotfix else "violated"
        self[key] = found
        return found


def stamp(at: int) -> str:
    return f"{datetime.fromtimestamp(at, UTC):%Y-%m-%dT%H:%M:%SZ}"


class Reviews:
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
                return f"unreviewed, overdue since {stamp(due)}", OVERDUE
            return f"unreviewed, due {stamp(due)}", UNREVIEWED
        said, at, promised = made
        due = promised if promised is not None else due
        if due is not None and at > due:
            return f"{said}, late: due {stamp(due)}, reviewed {stamp(at)}", LATE
        return said, None
