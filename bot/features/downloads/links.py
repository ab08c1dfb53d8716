"""The download ledger (`<state_dir>/downloads.sqlite`): each download run, and the links that
hand its files to the person who asked.

A link is a capability: 256 random bits in its URL, shown only in the reply to that person in
an end-to-end-encrypted room, stored here only as its sha256 (a copy of this file opens
nothing). It is bound to one run and one person, expires, and with `single_use` serves each
file once: the first response that starts sending a file's bytes spends the link for that
file, whatever part of the file it asked for, and nothing of that file is sent through it
again, to anyone, however asked (a resumed download needs a link for several uses). The first
address that fetches a link claims it (a HEAD does not): another address is refused, and told
when and from where it was claimed, so a link that leaked is useless to a second party
once the person has started, and its theft is visible to the person if it was first. See
docs/design-notes.md, "Download links", for the threat model.
"""

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STEPS: list[Step] = [
    sql(
        "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, person TEXT NOT NULL,"
        " room TEXT, started REAL NOT NULL, ended REAL, status TEXT NOT NULL)"
    ),
    sql(
        "CREATE TABLE IF NOT EXISTS links (token_hash TEXT PRIMARY KEY, run_id TEXT NOT NULL,"
        " person TEXT NOT NULL, expires REAL NOT NULL, single_use INTEGER NOT NULL,"
        " claimed_by TEXT, claimed_at REAL)"
    ),
    sql(
        "CREATE TABLE IF NOT EXISTS spent (token_hash TEXT NOT NULL, name TEXT NOT NULL,"
        " at REAL NOT NULL, PRIMARY KEY (token_hash, name))"
    ),
    # A run's file offered while it is still being written, and the size it announced.
    sql("ALTER TABLE runs ADD COLUMN growing TEXT"),
    sql("ALTER TABLE runs ADD COLUMN total INTEGER"),
]
SCHEMA = len(STEPS)
RUNNING, DONE, FAILED, INTERRUPTED = "running", "done", "failed", "interrupted"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    token: str  # shown once, in the reply; never stored
    run_id: str
    person: str
    expires: float


@dataclass(frozen=True)
class Admitted:
    run_id: str
    person: str
    single_use: bool


@dataclass(frozen=True)
class Denied:
    status: int  # the HTTP status
    reason: str  # what the person reads, and what the log says


class LinkBook:
    def __init__(self, path: Path) -> None:
        self._db = connect(path, durable=True)
        self._lock = threading.Lock()
        with self._lock:
            upgrade(self._db, path, STEPS)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # runs

    def started(self, run_id: str, person: str, room: str | None, now: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO runs (run_id, person, room, started, status)"
                " VALUES (?, ?, ?, ?, ?)",
                (run_id, person, room, now or time.time(), RUNNING),
            )

    def ended(self, run_id: str, status: str, now: float | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE runs SET ended = ?, status = ? WHERE run_id = ?",
                (now or time.time(), status, run_id),
            )

    def status(self, run_id: str) -> str | None:
        """running, done, failed, interrupted; None for a run the ledger does not hold."""
        with self._lock:
            row = self._db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return found[0] if found else None

    def grows(self, run_id: str, name: str, total: int) -> None:
        """`name` is offered while the run writes it, and will have `total` bytes."""
        with self._lock:
            self._db.execute(
                "UPDATE runs SET growing = ?, total = ? WHERE run_id = ?", (name, total, run_id)
            )

    def growing(self, run_id: str) -> tuple[str, int] | None:
        """The file offered while it is written, and its announced size; None if none."""
        with self._lock:
            row = self._db.execute(
                "SELECT growing, total FROM runs WHERE run_id = ? AND growing IS NOT NULL",
                (run_id,),
            ).fetchone()
        return (row[0], int(row[1])) if row else None

    def running(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT run_id FROM runs WHERE status = ?", (RUNNING,))
            return [r[0] for r in rows]

    def interrupt_all(self, now: float | None = None) -> list[str]:
        """At start: runs the last process left running were cut off by its end."""
        stopped = self.running()
        for run_id in stopped:
            self.ended(run_id, INTERRUPTED, now)
        return stopped

    def expired_runs(self, before: float) -> list[str]:
        """Runs that ended before `before` (their files are due for removal)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id FROM runs WHERE ended IS NOT NULL AND ended < ?", (before,)
            )
            return [r[0] for r in rows]

    def kept(self) -> set[str]:
        """Runs whose files are still wanted: running, or ended within the retention."""
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT run_id FROM runs")}

    def forget(self, run_id: str) -> None:
        with self._lock:
            hashes = [
                r[0]
                for r in self._db.execute(
                    "SELECT token_hash FROM links WHERE run_id = ?", (run_id,)
                )
            ]
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM spent WHERE token_hash = ?", [(h,) for h in hashes])
            self._db.execute("DELETE FROM links WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            self._db.execute("COMMIT")

    # links

    def issue(
        self, run_id: str, person: str, lifetime: float, single_use: bool, now: float | None = None
    ) -> Link:
        token = secrets.token_urlsafe(32)
        expires = (now or time.time()) + lifetime
        with self._lock:
            self._db.execute(
                "INSERT INTO links VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                (_hash(token), run_id, person, expires, int(single_use)),
            )
        return Link(token, run_id, person, expires)

    def admit(
        self, token: str, name: str, peer: str, claim: bool = True, now: float | None = None
    ) -> Admitted | Denied:
        """May `peer` fetch file `name` (or the list of files, "") with `token` now? Claims the
        link for `peer` on its first use, unless `claim` is False (a HEAD: it only looks). A
        single-use link already spent on `name` is refused, whoever asks and however: admitting
        spends nothing, `spend` does, once the file's bytes are about to go."""
        now = now or time.time()
        key = _hash(token)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                verdict = self._admit(key, name, peer, claim, now)
            finally:
                self._db.execute("COMMIT")
        return verdict

    def _admit(self, key: str, name: str, peer: str, claim: bool, now: float) -> Admitted | Denied:
        row = self._db.execute(
            "SELECT run_id, person, expires, single_use, claimed_by, claimed_at FROM links"
            " WHERE token_hash = ?",
            (key,),
        ).fetchone()
        if row is None:
            return Denied(404, "no such download link")
        run_id, person, expires, single_use, claimed_by, claimed_at = row
        if now >= expires:
            return Denied(410, f"this link expired at {_when(expires)}; run the download again")
        if single_use and name:
            spent = self._db.execute(
                "SELECT at FROM spent WHERE token_hash = ? AND name = ?", (key, name)
            ).fetchone()
            if spent is not None:
                return _used(spent[0])
        if claimed_by is None:
            if claim:
                self._db.execute(
                    "UPDATE links SET claimed_by = ?, claimed_at = ? WHERE token_hash = ?",
                    (peer, now, key),
                )
        elif claimed_by != peer:
            return Denied(
                403,
                f"this link is in use by another address (since {_when(claimed_at)}); it is "
                f"for {person} only. If that was not you, tell your team",
            )
        return Admitted(run_id, person, bool(single_use))

    def spend(self, token: str, name: str, now: float | None = None) -> Denied | None:
        """Spends a single-use `token` on `name`, as its bytes are about to be sent: None if
        this call spent it, else the refusal (another request spent it first). One insert, so
        two requests racing for the same file cannot both be told to go ahead."""
        now = now or time.time()
        key = _hash(token)
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO spent VALUES (?, ?, ?)", (key, name, now)
            )
            if cursor.rowcount == 1:
                return None
            row = self._db.execute(
                "SELECT at FROM spent WHERE token_hash = ? AND name = ?", (key, name)
            ).fetchone()
        return _used(row[0] if row else now)


def _used(at: float) -> Denied:
    return Denied(
        410,
        f"this link was used already (at {_when(at)}) and was for one use; run the download again",
    )


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
