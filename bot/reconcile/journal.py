"""The reconciler's journal (SQLite, via sqlite-utils): every run, from before it starts to its end.

A row is written *before* a hook runs ("started") and finished after, so a crash in between leaves
evidence: at the next start that row becomes "interrupted" and the run is tried again. Finished
rows are the same `RunOutcome`s the notes hold; `noted` says whether the note is written yet, so a
note lost to a crash (or a busy lock) is written later rather than never.

What is applied on the host is derived from here. The notes are the published copy: when the file
is lost, `rebuild` fills a new one from them (everything but the runs that had not finished).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.state.outcome import HOOK_RAN, HookResult, RunOutcome
from bot.state.schema import Step, sql, upgrade
from bot.state.sqlite import connect

STARTED = "started"
_RAN = ", ".join(f"'{s}'" for s in HOOK_RAN)

# Schema versions (`PRAGMA user_version`, see `bot.state.schema`); version 1 holds the tables of
# release 0.1.0, which stamped no version.
STEPS: list[Step] = [
    sql(
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE IF NOT EXISTS runs (
            id INTEGER PRIMARY KEY, sha TEXT NOT NULL, env TEXT NOT NULL, app TEXT NOT NULL,
            version TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,
            final INTEGER NOT NULL DEFAULT 0, hook TEXT, exit_code INTEGER, duration REAL,
            output_tail TEXT, error TEXT, detail TEXT NOT NULL DEFAULT '',
            started_at TEXT, at TEXT, noted INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX IF NOT EXISTS runs_target ON runs(env, app, id);
        CREATE INDEX IF NOT EXISTS runs_request ON runs(sha, env, app)
        """
    ),
]
SCHEMA = len(STEPS)


@dataclass(frozen=True)
class Applied:
    """The version last applied successfully to one (env, app), and by which commit's request."""

    version: str
    at: datetime
    commit: str


class ReconcileJournal:
    def __init__(self, path: Path) -> None:
        # A "started" row must be on disk before its hook runs, or a crash would forget the run.
        self.db = Database(connect(path, durable=True))
        upgrade(self.db.conn, path, STEPS)

    def close(self) -> None:
        self.db.conn.close()

    # filling it

    def ready(self) -> bool:
        """False for a new file: it must be rebuilt from the notes before it is trusted."""
        return self.db.execute("SELECT 1 FROM meta WHERE key = 'ready'").fetchone() is not None

    def rebuild(self, outcomes: Iterable[RunOutcome]) -> int:
        """Fills the journal with `outcomes` (read from the notes, so already noted)."""
        rows = [{**_row(o), "noted": 1} for o in sorted(outcomes, key=lambda o: (o.at, o.attempt))]
        with self.db.atomic():
            self.db.execute("DELETE FROM runs")
            self.db.table("runs").insert_all(rows)
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('ready', '1')")
        return len(rows)

    def start(
        self, commit: str, env: str, app: str, version: str, attempt: int, hook: str, at: datetime
    ) -> int:
        """Records a run about to start; returns its id, for `finish`."""
        row = {
            "sha": commit,
            "env": env,
            "app": app,
            "version": version,
            "status": STARTED,
            "attempt": attempt,
            "hook": hook,
            "started_at": at.isoformat(),
        }
        run_id = self.db.table("runs").insert(row).last_pk
        assert isinstance(run_id, int)
        return run_id

    def finish(self, run_id: int, outcome: RunOutcome) -> None:
        self.db.table("runs").update(run_id, _row(outcome))

    def record(self, outcome: RunOutcome) -> int:
        """Records an outcome that ran no hook (no-hook, superseded); returns its id."""
        run_id = self.db.table("runs").insert(_row(outcome)).last_pk
        assert isinstance(run_id, int)
        return run_id

    def interrupt_unfinished(self, at: datetime, budget: int) -> list[tuple[int, RunOutcome]]:
        """Turns every run a crash left "started" into "interrupted"."""
        rows = list(self.db.query("SELECT id FROM runs WHERE status = ?", [STARTED]))
        return [(row["id"], self.interrupt(row["id"], at, budget)) for row in rows]

    def interrupt(self, run_id: int, at: datetime, budget: int) -> RunOutcome:
        """Records that a started run never finished. The last attempt of the retry budget is
        final, so a hook that takes the host (and us) down with it is not run forever."""
        row = next(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        outcome = RunOutcome(
            commit=row["sha"],
            app=row["app"],
            env=row["env"],
            version=row["version"],
            status="interrupted",
            attempt=row["attempt"],
            final=row["attempt"] >= budget,
            result=None,
            at=at,
            detail=f"opsbot stopped while hook {row['hook']} ran",
        )
        # Keeps the hook's name and start time: only how it ended is new.
        self.db.table("runs").update(
            run_id,
            {
                "status": outcome.status,
                "final": int(outcome.final),
                "at": at.isoformat(),
                "detail": outcome.detail,
            },
        )
        return outcome

    def unnoted(self) -> list[tuple[int, RunOutcome]]:
        rows = self.db.query(f"SELECT * FROM runs WHERE noted = 0 AND status != '{STARTED}'")
        return [(row["id"], _outcome(row)) for row in rows]

    def noted(self, run_id: int) -> None:
        self.db.table("runs").update(run_id, {"noted": 1})

    # reading it

    def attempts(self, commit: str, env: str, app: str) -> int:
        """How many times the hook ran (or started) for this request."""
        return int(
            self.db.execute(
                f"SELECT COUNT(*) FROM runs WHERE sha = ? AND env = ? AND app = ? "
                f"AND status IN ({_RAN}, '{STARTED}')",
                [commit, env, app],
            ).fetchone()[0]
        )

    def closed(self, commit: str, env: str, app: str) -> bool:
        """Whether this request is settled: applied, given up or superseded. One with no deploy
        hook is not: the app may name one in a later commit, and then it is applied."""
        row = self.db.execute(
            "SELECT 1 FROM runs WHERE sha = ? AND env = ? AND app = ? AND final = 1 "
            "AND status != 'no-hook' LIMIT 1",
            [commit, env, app],
        ).fetchone()
        return row is not None

    def last_for(self, commit: str, env: str, app: str) -> RunOutcome | None:
        """The last finished outcome of this request."""
        rows = list(
            self.db.query(
                "SELECT * FROM runs WHERE sha = ? AND env = ? AND app = ? "
                f"AND status != '{STARTED}' ORDER BY id DESC LIMIT 1",
                [commit, env, app],
            )
        )
        return _outcome(rows[0]) if rows else None

    def last_run(self, env: str, app: str) -> RunOutcome | None:
        """The last finished hook run on (env, app): the host's last known state."""
        rows = list(
            self.db.query(
                f"SELECT * FROM runs WHERE env = ? AND app = ? AND status IN ({_RAN}) "
                "ORDER BY id DESC LIMIT 1",
                [env, app],
            )
        )
        return _outcome(rows[0]) if rows else None

    def applied(self) -> dict[tuple[str, str], Applied]:
        rows = self.db.query(
            "SELECT * FROM runs WHERE id IN "
            "(SELECT MAX(id) FROM runs WHERE status = 'ok' GROUP BY env, app) ORDER BY env, app"
        )
        return {
            (r["env"], r["app"]): Applied(r["version"], datetime.fromisoformat(r["at"]), r["sha"])
            for r in rows
        }

    def outcomes(self, env: str | None = None, app: str | None = None) -> list[RunOutcome]:
        """Every finished outcome, oldest first; for one target if given."""
        where, args = f"status != '{STARTED}'", []
        if env is not None and app is not None:
            where, args = where + " AND env = ? AND app = ?", [env, app]
        rows = self.db.query(f"SELECT * FROM runs WHERE {where} ORDER BY id", args)
        return [_outcome(r) for r in rows]


def _row(o: RunOutcome) -> dict[str, Any]:
    r = o.result
    return {
        "sha": o.commit,
        "env": o.env,
        "app": o.app,
        "version": o.version,
        "status": o.status,
        "attempt": o.attempt,
        "final": int(o.final),
        "at": o.at.isoformat(),
        "detail": o.detail,
        "hook": r.hook if r else None,
        "exit_code": r.exit_code if r else None,
        "duration": r.duration if r else None,
        "output_tail": r.output_tail if r else None,
        "error": r.error if r else None,
    }


def _outcome(row: dict[str, Any]) -> RunOutcome:
    result = None
    if row["hook"] is not None and row["status"] in ("ok", "failed"):
        result = HookResult(
            hook=row["hook"],
            ok=row["status"] == "ok",
            exit_code=row["exit_code"],
            duration=row["duration"] or 0.0,
            output_tail=row["output_tail"] or "",
            error=row["error"],
        )
    return RunOutcome(
        commit=row["sha"],
        app=row["app"],
        env=row["env"],
        version=row["version"],
        status=row["status"],
        attempt=row["attempt"],
        final=bool(row["final"]),
        result=result,
        at=datetime.fromisoformat(row["at"]),
        detail=row["detail"] or "",
    )
