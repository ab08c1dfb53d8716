"""What the host holds for runbooks, read for the `!run` handlers before they answer: the runs
asked for and not ended (who asked, whether one waits) and which host secrets the host config
grants each runbook.

A run asked for is first a job in the outbox, then a row of the runs journal once the executor
took it in (it writes the row before it marks the job taken); so the outbox is read first, and
no run is missed between the two. Read-only: the executor alone writes either.
"""

import json
import sqlite3
from collections.abc import Collection, Mapping
from pathlib import Path

from bot.core.effects import Effect, Job
from bot.features.runbooks.jobs import EXECUTOR, RunbookJob, StartRun, load_job
from bot.features.runbooks.journal import QUEUED
from bot.state.outbox import Outbox
from bot.state.sqlite import connect


class RunbookHost:
    def __init__(
        self,
        ledger: Outbox,
        journal: Path,
        grants: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        self.ledger = ledger
        self.journal = journal
        self.grants = grants  # None: this process has no host config (the console)
        self._conn: sqlite3.Connection | None = None

    def run(self, run_id: str) -> tuple[str, str] | None:
        """(who asked, its state: queued, running or ended) of the run `run_id`; None if no
        such run was ever asked for (or its row is gone)."""
        for ident, sender in self._asked():
            if ident == run_id:
                return sender, QUEUED
        rows = self._rows("SELECT job, state FROM runs WHERE id = ?", [run_id])
        return (str(json.loads(rows[0][0])["sender"]), rows[0][1]) if rows else None

    def waiting(self) -> list[tuple[str, str]]:
        """(run id, who asked) of every run that has not started, oldest first."""
        asked = self._asked()  # first: see the module's docstring
        rows = self._rows("SELECT id, job FROM runs WHERE state = ? ORDER BY seq", [QUEUED])
        queued = [(ident, str(json.loads(job)["sender"])) for ident, job in rows]
        return list(dict.fromkeys(queued + asked))

    def granted(self, runbook: str) -> Collection[str] | None:
        """The host secrets `runbook` may receive; None where the host config is not known."""
        return None if self.grants is None else self.grants.get(runbook, ())

    def _asked(self) -> list[tuple[str, str]]:
        """(run id, who asked) of the runs still owed to the executor, not taken in yet."""
        found = []
        for owed in self.ledger.jobs(EXECUTOR):
            job = _job(owed.effect)
            if isinstance(job, StartRun):
                found.append((job.id, job.sender))
        return found

    def _rows(self, query: str, params: list[str]) -> list[tuple[str, str]]:
        if self._conn is None:
            if not self.journal.exists():
                return []  # no run was ever taken in: the executor makes the file
            self._conn = connect(self.journal)
        try:
            return [(str(a), str(b)) for a, b in self._conn.execute(query, params).fetchall()]
        except sqlite3.OperationalError:  # the executor has not made its table yet
            return []


def _job(effect: Effect) -> RunbookJob | None:
    if not isinstance(effect, Job):
        return None
    try:
        return load_job(effect.data)
    except ValueError:
        return None  # one the executor cannot read either: it drops it
