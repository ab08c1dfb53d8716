"""Which invocation made which commit: the journal that makes a redelivered command a no-op.

A commit message says what its author wrote, so "was this event already handled?" is not read
from its `Matrix-Event` trailer (a display name or a reason could forge one). The engine writes
the invocation and the id of the commit it is about to publish here, durably, after the commit's
objects are on disk and before the ref moves. On a redelivery the answer is "done" only if that
commit is really in the repo (on main or on a proposal branch): a crash before the ref moved
leaves a row naming a commit nobody can reach, and the command runs again, once.

Not derivable from Git, so kept in the state directory beside the index and never rebuilt.

Schema versions (`PRAGMA user_version`, see `bot.state.schema`): 1, the table; 2, rows added
for the commits of earlier releases, which kept this in their commits' trailers instead
(`bot.service.upgrade.seed_handled`,
which needs the repo and so is run by `opsbot migrate` and at start
rather than here).
"""

import sqlite3
from pathlib import Path

from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STEPS: list[Step] = [
    sql(
        "CREATE TABLE IF NOT EXISTS handled ("
        "invocation TEXT PRIMARY KEY, commit_id TEXT NOT NULL, at INTEGER NOT NULL)"
    ),
]
SCHEMA = 2


class Handled:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path, durable=True)
        upgrade(self._conn, self.path, STEPS, known=SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def commit_of(self, invocation: str) -> str | None:
        """The commit last prepared for `invocation`; whether it landed is the repo's answer."""
        row = self._conn.execute(
            "SELECT commit_id FROM handled WHERE invocation = ?", [invocation]
        ).fetchone()
        return row[0] if row else None

    def record(self, invocation: str, commit: str, at: int) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO handled VALUES (?, ?, ?)", [invocation, commit, at]
        )

    @property
    def connection(self) -> sqlite3.Connection:
        """For the migration that fills in earlier releases' rows, in one transaction."""
        return self._conn
