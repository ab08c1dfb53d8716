"""What the Matrix transport must remember across restarts, beyond what Git records.

- the sync position, advanced only after every event of a batch was handled (nio would save it
  before its callbacks run, and a crash in between would lose those events);
- the events already handled, so a redelivered event is not handled twice (a redelivered
  *write* is caught by the engine's ledger anyway), pruned after `RETENTION`;
- the rooms the bot has joined, so that history from before its join is never executed;
- the device keys seen per user and device (trust on first use): a key that changes for a known
  device is refused, never silently accepted;
- the room messages that features observe (an incident's transcript), until they are committed.

One SQLite file in the state directory. The transcript lines and the device keys are written
with `synchronous=FULL`: on disk before the work goes on. The sync position and the handled
events are written without waiting for the disk (one wait per sync batch was a tenth of the
bot's time under a burst): a power cut can only set them back, never ahead of the work, and
what is then handled again is recognised by the engine's ledger and the outbox.
"""

import time
from pathlib import Path

from sqlite_utils import Database

from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

RETENTION = 30 * 24 * 3600.0  # seconds a handled event is remembered; sync never goes back so far
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
    # Features observe room messages (an incident's transcript): kept here until committed.
    # Transcript lines an earlier release kept become observed rows; the replies table gives way
    # to the outbox (bot/state/outbox.py).
    sql(
        """
        CREATE TABLE IF NOT EXISTS observed (
            id INTEGER PRIMARY KEY, observer TEXT, key TEXT, room_id TEXT,
            event_id TEXT UNIQUE, payload TEXT);
        INSERT OR IGNORE INTO observed (observer, key, room_id, event_id, payload)
            SELECT 'incident transcript', incident, NULL, event_id, line FROM transcript
            ORDER BY id;
        DROP TABLE transcript;
        DROP TABLE replies
        """
    ),
]
SCHEMA = len(STEPS)


class MatrixJournal:
    def __init__(self, path: Path) -> None:
        self.db = Database(connect(path, durable=True))
        upgrade(self.db.conn, path, STEPS)
        self._quick = connect(path)
        self._quick.execute("DELETE FROM handled WHERE at < ?", [time.time() - RETENTION])

    def close(self) -> None:
        self._quick.close()
        self.db.conn.close()

    # sync position

    def position(self) -> str | None:
        row = self.db.conn.execute("SELECT token FROM position WHERE id = 1").fetchone()
        return row[0] if row else None

    def advance(self, token: str) -> None:
        self._quick.execute("INSERT OR REPLACE INTO position VALUES (1, ?)", [token])

    # events

    def handled(self, event_id: str) -> bool:
        row = self.db.conn.execute(
            "SELECT 1 FROM handled WHERE event_id = ?", [event_id]
        ).fetchone()
        return row is not None

    def mark_handled(self, event_id: str, room_id: str, reply_id: str | None) -> None:
        self._quick.execute(
            "INSERT OR IGNORE INTO handled VALUES (?, ?, ?, ?)",
            [event_id, room_id, reply_id, time.time()],
        )

    # room messages that features observe, until they are committed

    def observe(self, observer: str, key: str, room_id: str, event_id: str, payload: str) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO observed (observer, key, room_id, event_id, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            [observer, key, room_id, event_id, payload],
        )

    def observed(
        self, room_id: str | None = None
    ) -> dict[tuple[str, str], list[tuple[int, str, str]]]:
        """(observer, key) -> [(row id, event id, payload)] in arrival order; with `room_id`,
        only the batches holding a message from that room."""
        pending: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
        rooms: dict[tuple[str, str], set[str | None]] = {}
        for row_id, observer, key, room, event_id, payload in self.db.conn.execute(
            "SELECT id, observer, key, room_id, event_id, payload FROM observed ORDER BY id"
        ):
            pending.setdefault((observer, key), []).append((row_id, event_id, payload))
            rooms.setdefault((observer, key), set()).add(room)
        if room_id is None:
            return pending
        return {batch: rows for batch, rows in pending.items() if room_id in rooms[batch]}

    def pending(self) -> int:
        return int(self.db.conn.execute("SELECT COUNT(*) FROM observed").fetchone()[0])

    def drop_observed(self, row_ids: list[int]) -> None:
        self.db.conn.executemany("DELETE FROM observed WHERE id = ?", [[i] for i in row_ids])

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
