"""The outbox's file, outbox.sqlite: its tables, how it is opened, and the rows of what is owed.

The `outbox` table holds one row per effect: its identity (unique: an effect is owed once), the
commit it waits for, its state (`prepared` until that commit lands, then `ready`, then `sent` or
`failed`), the effect itself as JSON, and what became of it. The `rooms` table remembers the
room each `CreateRoom` made; the `handled` table which invocation made which commit
(bot/state/handled.py), written in the same transaction as the commit's effects. The tables are
opsbot's own: nothing else reads them.

Schema versions: 1, the outbox and the rooms; 2, the handled table, with the rows of the
`handled.sqlite` an earlier release left beside it; 3, rows added for the commits of release
0.1.0, which kept this in their trailers (`bot.service.upgrade`, which needs the repo).
"""

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.core.effects import Effect, dump
from bot.state.handled import make_table
from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STEPS: list[Step] = [
    sql(
        """
        CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, identity TEXT UNIQUE NOT NULL,
            commit_id TEXT, state TEXT NOT NULL, kind TEXT NOT NULL, effect TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0,
            event_id TEXT, error TEXT, at REAL NOT NULL);
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, id);
        CREATE INDEX IF NOT EXISTS outbox_commit ON outbox(commit_id);
        CREATE TABLE IF NOT EXISTS rooms (key TEXT PRIMARY KEY, room_id TEXT NOT NULL)
        """
    ),
    make_table,
]
SEEDED = 3  # the handled rows for 0.1.0's history are in (bot.service.upgrade)
SCHEMA = SEEDED


@dataclass(frozen=True)
class Owed:
    """One effect in the outbox, due to be carried out."""

    id: int
    identity: str
    effect: Effect
    attempts: int
    next_at: float  # not before: a retry waits for its backoff


def open_outbox(path: Path) -> sqlite3.Connection:
    """The outbox's file with its schema brought up to date (for `opsbot migrate`)."""
    conn = connect(path, durable=True)
    upgrade(conn, path, STEPS, known=SCHEMA)
    return conn


def insert(
    conn: sqlite3.Connection,
    effects: Sequence[tuple[str, Effect]],
    commit: str | None,
    state: str,
) -> None:
    """Owes each (identity, effect), unless its identity is owed or sent already."""
    now = time.time()
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (identity, commit_id, state, kind, effect, at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            [identity, commit, state, type(effect).__name__, dump(effect), now]
            for identity, effect in effects
        ],
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (`BEGIN IMMEDIATE`): all of it or none."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
