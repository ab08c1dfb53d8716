"""Webhook deliveries already handled, by the sender's delivery id, in SQLite in the state
directory: a sender that retries (or an attacker that replays a signed request) gets 200 and
no second notice, across restarts. Ids older than `KEEP_DAYS` are forgotten."""

import threading
import time
from pathlib import Path

from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

KEEP_DAYS = 30
# Schema versions (`PRAGMA user_version`, see `bot.state.schema`); version 1 is the table of
# release 0.1.0, which stamped no version.
STEPS: list[Step] = [
    sql(
        "CREATE TABLE IF NOT EXISTS deliveries (source TEXT NOT NULL, delivery TEXT NOT NULL,"
        " received REAL NOT NULL, PRIMARY KEY (source, delivery))"
    ),
]
SCHEMA = len(STEPS)


class Deliveries:
    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = threading.Lock()  # one connection, used from worker threads
        with self._lock:
            upgrade(self._db, path, STEPS)

    def claim(self, source: str, delivery: str) -> bool:
        """True the first time this delivery is seen; False for a replay. Claimed before the
        notice is posted, so that two copies arriving together post once."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "DELETE FROM deliveries WHERE received < ?", (now - KEEP_DAYS * 86400,)
            )
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?)", (source, delivery, now)
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()
