"""Which invocation made which commit: the table that makes a redelivered command a no-op.

A commit message says what its author wrote, so "was this event already handled?" is not read
from its `Matrix-Event` trailer (a display name or a reason could forge one). The engine writes
the invocation and the id of the commit it is about to publish here, durably, after the commit's
objects are on disk and before the ref moves. On a redelivery the answer is "done" only if that
commit is really in the repo (on main or on a proposal branch): a crash before the ref moved
leaves a row naming a commit nobody can reach, and the command runs again, once.

Not derivable from Git, so kept in the state directory and never rebuilt. The table lives in
outbox.sqlite beside the effects the same commit owes (bot/state/outbox_file.py), so both are
written in one transaction: one wait for the disk per command, not one per file. Releases
up to 0.3.0 kept it in a file of its own, `handled.sqlite` (`LEGACY`): the outbox's schema step
that makes the table copies that file's rows in, and `opsbot migrate` removes the file once the
outbox says so (bot/service/upgrade.py).
"""

import sqlite3
from pathlib import Path

from bot.state.schema import version

LEGACY = "handled.sqlite"  # beside outbox.sqlite, as releases up to 0.3.0 left it
LEGACY_SEEDED = 2  # its version once it held the rows of 0.1.0's history

TABLE = (
    "CREATE TABLE IF NOT EXISTS handled ("
    "invocation TEXT PRIMARY KEY, commit_id TEXT NOT NULL, at INTEGER NOT NULL)"
)


class Handled:
    """The `handled` table, on the outbox's connection (whose lock and transactions it shares)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def commit_of(self, invocation: str) -> str | None:
        """The commit last prepared for `invocation`; whether it landed is the repo's answer."""
        row = self._conn.execute(
            "SELECT commit_id FROM handled WHERE invocation = ?", [invocation]
        ).fetchone()
        return row[0] if row else None

    def record(self, invocation: str, commit: str, at: int) -> None:
        """Inside the caller's transaction."""
        self._conn.execute(
            "INSERT OR REPLACE INTO handled VALUES (?, ?, ?)", [invocation, commit, at]
        )

    @property
    def connection(self) -> sqlite3.Connection:
        """For the migrations that fill in rows, in one transaction."""
        return self._conn


def make_table(conn: sqlite3.Connection) -> None:
    """The outbox's schema step 2: the table, with the rows of a `handled.sqlite` beside the
    outbox if an earlier release left one (read, not changed: it goes once the step is in)."""
    conn.execute(TABLE)
    legacy = legacy_path(conn)
    if legacy is None or not legacy.exists():
        return
    old = sqlite3.connect(legacy)  # not read-only: a crashed writer's WAL is read too
    try:
        rows = old.execute("SELECT invocation, commit_id, at FROM handled").fetchall()
    except sqlite3.OperationalError:  # made and never written: no table yet
        rows = []
    finally:
        old.close()
    conn.executemany("INSERT OR IGNORE INTO handled VALUES (?, ?, ?)", rows)


def legacy_path(conn: sqlite3.Connection) -> Path | None:
    """Where an earlier release's `handled.sqlite` would be: beside `conn`'s file."""
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main" and file:
            return Path(file).with_name(LEGACY)
    return None


def legacy_seeded(path: Path) -> bool:
    """Whether the earlier release's file at `path` held the rows of 0.1.0's history."""
    if not path.exists():
        return False
    conn = sqlite3.connect(path)
    try:
        return version(conn) >= LEGACY_SEEDED
    finally:
        conn.close()


def remove_legacy(path: Path) -> bool:
    """Removes the earlier release's file (its rows are in the outbox); whether there was one."""
    found = path.exists()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return found
