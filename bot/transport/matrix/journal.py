"""What the Matrix transport must remember across restarts, beyond what Git records.

- the sync position, advanced only after every event of a batch was handled (nio would save it
  before its callbacks run, and a crash in between would lose those events);
- the events already answered, so a redelivered read-only command is not answered twice (a
  redelivered *write* is caught by the engine through the `Matrix-Event` trailer anyway);
- the rooms the bot has joined, so that history from before its join is never executed;
- the device keys seen per user and device (trust on first use): a key that changes for a known
  device is refused, never silently accepted.

One SQLite file in the state directory, written with `synchronous=FULL`: the position must not
run ahead of the work on a power cut. Its schema version is `PRAGMA user_version` (see
`bot.state.schema`): version 1 holds the tables of release 0.1.0, which stamped no version.
"""

import time
from pathlib import Path

from sqlite_utils import Database

from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STEPS: list[Step] = [
    sql(
        """
        CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT);
        CREATE TABLE IF NOT EXISTS handled (
            event_id TEXT PRIMARY KEY, room_id TEXT, reply_id TEXT, at REAL);
        CREATE TABLE IF NOT EXISTS rooms (room_id TEXT PRIMARY KEY, joined_at REAL);
        CREATE TABLE IF NOT EXISTS replies (
            commit_sha TEXT PRIMARY KEY, room_id TEXT, reply_id TEXT, text TEXT);
        CREATE TABLE IF NOT EXISTS transcript (
            id INTEGER PRIMARY KEY, incident TEXT, event_id TEXT UNIQUE, line TEXT);
        CREATE TABLE IF NOT EXISTS devices (
            user_id TEXT, device_id TEXT, ed25519 TEXT, first_seen REAL,
            PRIMARY KEY (user_id, device_id))
        """
    ),
]
SCHEMA = len(STEPS)


class Journal:
    def __init__(self, path: Path) -> None:
        self.db = Database(connect(path, durable=True))
        upgrade(self.db.conn, path, STEPS)

    def close(self) -> None:
        self.db.conn.close()

    # sync position

    def position(self) -> str | None:
        row = self.db.conn.execute("SELECT token FROM position WHERE id = 1").fetchone()
        return row[0] if row else None

    def advance(self, token: str) -> None:
        self.db.conn.execute("INSERT OR REPLACE INTO position VALUES (1, ?)", [token])

    # events

    def handled(self, event_id: str) -> bool:
        row = self.db.conn.execute(
            "SELECT 1 FROM handled WHERE event_id = ?", [event_id]
        ).fetchone()
        return row is not None

    def mark_handled(self, event_id: str, room_id: str, reply_id: str | None) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO handled VALUES (?, ?, ?, ?)",
            [event_id, room_id, reply_id, time.time()],
        )

    # replies that later work (the reconciler) edits with its result

    def remember_reply(self, commit: str, room_id: str, reply_id: str, text: str) -> None:
        self.db.conn.execute(
            "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?)", [commit, room_id, reply_id, text]
        )

    def reply_for(self, commit: str) -> tuple[str, str, str] | None:
        row = self.db.conn.execute(
            "SELECT room_id, reply_id, text FROM replies WHERE commit_sha = ?", [commit]
        ).fetchone()
        return (row[0], row[1], row[2]) if row else None

    # incident transcripts: durable here the moment a message arrives, committed in batches

    def keep_line(self, incident: str, event_id: str, line: str) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO transcript (incident, event_id, line) VALUES (?, ?, ?)",
            [incident, event_id, line],
        )

    def pending_lines(self) -> dict[str, list[tuple[int, str, str]]]:
        """incident -> [(row id, event id, line)] in arrival order."""
        pending: dict[str, list[tuple[int, str, str]]] = {}
        for row_id, incident, event_id, line in self.db.conn.execute(
            "SELECT id, incident, event_id, line FROM transcript ORDER BY id"
        ):
            pending.setdefault(incident, []).append((row_id, event_id, line))
        return pending

    def drop_lines(self, row_ids: list[int]) -> None:
        self.db.conn.executemany("DELETE FROM transcript WHERE id = ?", [[i] for i in row_ids])

    # rooms

    def joined(self, room_id: str) -> bool:
        row = self.db.conn.execute("SELECT 1 FROM rooms WHERE room_id = ?", [room_id]).fetchone()
        return row is not None

    def mark_joined(self, room_id: str) -> None:
        self.db.conn.execute("INSERT OR IGNORE INTO rooms VALUES (?, ?)", [room_id, time.time()])

    def forget_room(self, room_id: str) -> None:
        self.db.conn.execute("DELETE FROM rooms WHERE room_id = ?", [room_id])

    # device keys, trust on first use

    def key_of(self, user_id: str, device_id: str) -> str | None:
        row = self.db.conn.execute(
            "SELECT ed25519 FROM devices WHERE user_id = ? AND device_id = ?", [user_id, device_id]
        ).fetchone()
        return row[0] if row else None

    def first_use(self, user_id: str, device_id: str, key: str) -> bool:
        """Remembers the key of a device seen for the first time; False if it differs from the
        key remembered for that device (which Matrix never allows: someone is lying)."""
        known = self.key_of(user_id, device_id)
        if known is None:
            self.db.conn.execute(
                "INSERT INTO devices VALUES (?, ?, ?, ?)", [user_id, device_id, key, time.time()]
            )
            return True
        return known == key
