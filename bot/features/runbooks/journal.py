"""The host's journal of runbook runs (SQLite in the state directory): what is queued, what
runs, what ended and whether it is recorded in Git yet.

A run is written before its program starts, so a crash leaves evidence: at the next start a
run still "running" becomes "interrupted" (and is recorded as such), and a queued one starts.
Git holds the record people read (record.py); this holds what the executor needs to decide:
how many runs of a runbook hold it, in which order the others wait.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.features.runbooks.jobs import StartRun, dump_job, load_start
from bot.features.runbooks.record import RUNS_REF
from bot.state.journal_file import JournalFile
from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STEPS: list[Step] = [
    sql(
        """
        CREATE TABLE IF NOT EXISTS runs (
            id TEXT PRIMARY KEY, seq INTEGER NOT NULL, runbook TEXT NOT NULL,
            state TEXT NOT NULL, job TEXT NOT NULL, queued_at REAL NOT NULL,
            started_at REAL, ended_at REAL, result TEXT, recorded TEXT);
        CREATE INDEX IF NOT EXISTS runs_state ON runs(state, seq)
        """
    ),
]
SCHEMA = len(STEPS)  # the newest version (`PRAGMA user_version`) this code knows
FILE = "runs.sqlite"  # in the state directory
QUEUED, RUNNING, ENDED = "queued", "running", "ended"


@dataclass(frozen=True)
class Run:
    id: str
    runbook: str
    state: str
    job: StartRun  # what the `!run` handler validated: the exact program, argv, env
    queued_at: float
    started_at: float | None
    result: dict[str, Any] | None
    recorded: str | None  # the commit on the runs ref

    @property
    def sender(self) -> str:
        return self.job.sender


class RunbookJournal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(path, durable=True)
        upgrade(self.conn, path, STEPS)

    def close(self) -> None:
        self.conn.close()

    def add(self, job: StartRun) -> bool:
        """Queues the run `job` describes; False if it was queued before (a job seen again)."""
        seq = self.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM runs").fetchone()[0]
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO runs (id, seq, runbook, state, job, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [job.id, seq, job.runbook, QUEUED, json.dumps(dump_job(job)), time.time()],
        )
        return cursor.rowcount == 1

    def get(self, run_id: str) -> Run | None:
        row = self.conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", [run_id]).fetchone()
        return _run(row) if row else None

    def in_state(self, state: str) -> list[Run]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM runs WHERE state = ? ORDER BY seq", [state]
        ).fetchall()
        return [_run(row) for row in rows]

    def unrecorded(self) -> list[Run]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM runs WHERE state = ? AND recorded IS NULL ORDER BY seq",
            [ENDED],
        ).fetchall()
        return [_run(row) for row in rows]

    def started(self, run_id: str) -> None:
        self.conn.execute(
            "UPDATE runs SET state = ?, started_at = ? WHERE id = ?", [RUNNING, time.time(), run_id]
        )

    def ended(self, run_id: str, result: dict[str, Any]) -> None:
        self.conn.execute(
            "UPDATE runs SET state = ?, ended_at = ?, result = ? WHERE id = ?",
            [ENDED, time.time(), json.dumps(result), run_id],
        )

    def recorded(self, run_id: str, commit: str) -> None:
        self.conn.execute("UPDATE runs SET recorded = ? WHERE id = ?", [commit, run_id])

    def forget_records(self, present: Callable[[str], bool]) -> int:
        """Marks the runs whose record commit is not `present` (a repo restored from an older
        mirror) as not recorded, so that they are recorded again; how many."""
        rows = self.conn.execute("SELECT id, recorded FROM runs WHERE recorded IS NOT NULL")
        lost = [run_id for run_id, commit in rows.fetchall() if not present(commit)]
        self.conn.executemany("UPDATE runs SET recorded = NULL WHERE id = ?", [[i] for i in lost])
        return len(lost)


def rerecorded(path: Path, present: Callable[[str], bool]) -> str | None:
    """After a restore: the runs whose record the repo lacks are recorded again at start."""
    if not path.exists():
        return None
    journal = RunbookJournal(path)
    try:
        lost = journal.forget_records(present)
    finally:
        journal.close()
    if not lost:
        return None
    return (
        f"{lost} run(s) the clone's {RUNS_REF.decode()} lacks will be recorded again "
        "when the bot starts"
    )


JOURNAL = JournalFile(FILE, SCHEMA, lambda path: RunbookJournal(path), restored=rerecorded)

_COLUMNS = "id, runbook, state, job, queued_at, started_at, result, recorded"


def _run(row: Any) -> Run:
    return Run(
        row[0],
        row[1],
        row[2],
        load_start(json.loads(row[3])),
        row[4],
        row[5],
        json.loads(row[6]) if row[6] else None,
        row[7],
    )
