"""Schema versions of the host's SQLite files, and moving them forward one transaction at a time.

Each journal keeps its version in SQLite's `PRAGMA user_version` (0 for a file no release
stamped: the release before versions were written, whose tables are version 1's). Version N is
reached by running step N inside `BEGIN IMMEDIATE ... COMMIT` together with the new
`user_version`, so a process killed in the middle of a step leaves the file as it was before
that step, and the next start runs it again. A file whose version is above what this code knows
was written by a newer release: it is refused, never written, since this code would not know
what its rows mean.
"""

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.core.errors import OpsbotError

Step = Callable[[sqlite3.Connection], None]


class NewerThanCode(OpsbotError):
    """Data written by a newer release of opsbot than the one running (a downgrade)."""

    code = "newer_than_code"


def sql(script: str) -> Step:
    """A step made of SQL statements separated by `;` (none inside a string). Not
    `executescript`, which commits the transaction the step must run in."""
    statements = [s.strip() for s in script.split(";") if s.strip()]

    def run(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return run


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def version_of(path: Path) -> int | None:
    """The schema version of the file at `path`, read without writing it; None if missing."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return version(conn)
    finally:
        conn.close()


def refuse_newer(path: Path, found: int | None, known: int) -> None:
    if found is not None and found > known:
        raise NewerThanCode(
            f"{path} has schema version {found}, newer than this opsbot knows ({known}): "
            "a newer release wrote it; upgrade opsbot (or restore the backup taken before "
            "the upgrade)"
        )


def upgrade(
    conn: sqlite3.Connection, path: Path, steps: Sequence[Step], *, known: int | None = None
) -> int:
    """Runs the steps `conn`'s file lacks, each in its own transaction with its version.

    `known` is the newest version this code understands, when it is beyond the steps given
    here (a step that needs more than the file itself, run by `bot.service.upgrade`). Returns the
    version the file is at."""
    known = len(steps) if known is None else known
    refuse_newer(path, version(conn), known)
    for number, step in enumerate(steps, start=1):
        if version(conn) >= number:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have run this step while we waited for the write lock.
            if version(conn) < number:
                step(conn)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version(conn)
