"""Opening the host's SQLite files (index, journals, webhook deliveries) the one way they need.

Autocommit mode: transactions are explicit (`BEGIN IMMEDIATE`), so two processes writing at once
serialize on SQLite's lock. WAL, so readers never wait for a writer. No same-thread check: the
engine runs commands in a worker thread and transports on the event loop, one at a time each.
`durable` (synchronous=FULL) for the files whose rows must be on disk before the work they
describe goes on: the sync position, a hook run's "started" row. Otherwise synchronous=NORMAL,
which in WAL mode does not wait for the disk at each commit (SQLite's default, FULL, does): a
power cut may lose the last few transactions, never corrupt the file. That is right for what can
be derived again (the index, from Git) or done again harmlessly (an effect marked sent, which
the homeserver deduplicates by its transaction id), and it keeps an fsync off every command.
"""

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path


def connect(path: Path, *, durable: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    return conn


@contextlib.contextmanager
def page_cache(conn: sqlite3.Connection, kib: int | None) -> Iterator[None]:
    """SQLite's page cache of `conn` at `kib` KiB for a while (a long write), then as it was
    (None: left as it is)."""
    if kib is None:
        yield
        return
    was = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = {-int(kib)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA cache_size = {int(was)}")
