"""The runbooks executor: the host side of `!run`. It takes the jobs `!run` and `!run cancel`
owe in the outbox, queues runs in its journal, starts them as their runbook's concurrency
allows (or refuses one, naming the run that holds the runbook), has each run (running.py), and
records every ended run in Git (record.py).

At start, runs a crash or a stop cut short are marked interrupted, recorded and told so. Every
hour, the output files of runs that ended more than `keep_output_days` ago are removed from the
state directory (once recorded in Git, which keeps the redacted output, and once sent).
"""

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.effects import Job
from bot.core.logs import fact
from bot.core.tasks import first
from bot.engine.requests import Requests
from bot.features.downloads.host import Downloads
from bot.features.runbooks import journal as runs
from bot.features.runbooks import replies
from bot.features.runbooks.jobs import EXECUTOR, CancelRun, StartRun, load_job
from bot.features.runbooks.journal import Run, RunbookJournal
from bot.features.runbooks.record import record
from bot.features.runbooks.replies import Teller
from bot.features.runbooks.running import Running
from bot.state.outbox import Outbox
from bot.state.repo import StateRepo

log = logging.getLogger("opsbot.runbooks")

POLL = 0.5  # seconds between looks for jobs
EDIT_EVERY = 3.0  # seconds between edits of a running run's reply
KEEP_OUTPUT_DAYS = 14  # the host config's default ([runbooks] keep_output_days)
PRUNE_EVERY = 3600.0  # seconds between looks for output files past their retention


@dataclass
class _Live:
    task: "asyncio.Task[None]"
    cancel: asyncio.Event = field(default_factory=asyncio.Event)


class Executor:
    def __init__(
        self,
        repo: StateRepo,
        ledger: Outbox,
        requests: Requests,
        hooks_dir: Path,
        state_dir: Path,
        secrets: Mapping[str, Path],
        *,
        edit_every: float = EDIT_EVERY,
        clock: Callable[[], float] = time.time,
        downloads: Downloads | None = None,  # None: runbooks of kind download are refused
        keep_output_days: int = KEEP_OUTPUT_DAYS,
        grants: Mapping[str, Collection[str]] | None = None,  # runbook -> the secrets it may get
    ) -> None:
        self.repo = repo
        self.ledger = ledger
        self.outputs = state_dir / "runs"
        self.clock = clock
        self.downloads = downloads
        self.keep_output = keep_output_days * 86400.0
        self.journal = RunbookJournal(state_dir / runs.FILE)
        self.teller = Teller(ledger)
        self.running = Running(
            self.journal,
            ledger,
            self.teller,
            requests,
            hooks_dir,
            self.outputs,
            secrets,
            grants or {},
            edit_every=edit_every,
            clock=clock,
            downloads=downloads,
        )
        self.live: dict[str, _Live] = {}
        self._told: set[str] = set()  # queued runs told which run they wait for
        # Whether a queued run may start since the last look (a run queued, cancelled or
        # ended): otherwise the waiting runs are not looked at, however many there are.
        self._news = True

    def close(self) -> None:
        self.journal.close()

    async def stop(self) -> None:
        """Stops the runs in flight (each kills its process group); they stay "running" in the
        journal, so the next start records them as interrupted."""
        tasks = [live.task for live in self.live.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Takes jobs until `stop`; then the runs in flight are stopped (and, at the next
        start, recorded as interrupted)."""
        self.recover()
        wake = asyncio.Event()
        pruned_at = -PRUNE_EVERY
        try:
            while not stop.is_set():
                try:
                    await self.step()
                    if time.monotonic() - pruned_at >= PRUNE_EVERY:
                        pruned_at = time.monotonic()
                        await asyncio.to_thread(self.prune)
                except Exception:
                    log.exception("the runbooks executor failed a step; trying again")
                await first(wake, stop, timeout=POLL)
        finally:
            await self.stop()

    def recover(self) -> None:
        """Runs that were running when the bot stopped are interrupted: said and recorded."""
        if self.downloads is not None:
            for gone in self.downloads.interrupted():
                fact(log, "download interrupted by the last stop", logging.WARNING, run=gone)
        for found in self.journal.in_state(runs.RUNNING):
            result = replies.result("interrupted", error="interrupted by a restart of opsbot")
            result["started_at"] = found.started_at
            self.journal.ended(found.id, result)
            self.teller.tell(found.job, *replies.final(found.job, result, "", None))
            fact(log, "run interrupted", run=found.id, runbook=found.runbook)
        self._record_pending()

    async def step(self) -> None:
        """One look: new jobs taken in, queued runs started where they may, records written."""
        for owed in self.ledger.jobs(EXECUTOR):
            assert isinstance(owed.effect, Job)
            try:
                job = load_job(owed.effect.data)
            except ValueError as e:
                fact(log, "a job this release cannot read, dropped", logging.WARNING, error=str(e))
            else:
                if isinstance(job, CancelRun):
                    self._cancel(job)
                else:
                    self._queue(job)
            self.ledger.sent(owed, None)
            self._news = True
        if self._news:
            self._start_queued()
        self._record_pending()

    def prune(self) -> int:
        """Removes the output files past their retention; how many. A run's file stays while
        its record is not in Git yet or its attachment is still owed, whatever its age."""
        if not self.outputs.is_dir():
            return 0
        removed = 0
        before = self.clock() - self.keep_output
        for path in self.outputs.glob("run-*.txt"):
            run_id = path.name.removeprefix("run-").removesuffix(".txt")
            found = self.journal.get(run_id)
            if found is not None and (found.state != runs.ENDED or found.recorded is None):
                continue
            if self.ledger.waiting(f"run:{run_id}:output"):
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    path.unlink()
                    removed += 1
        if removed:
            fact(
                log, "run outputs removed", count=removed, older_than_days=self.keep_output / 86400
            )
        return removed

    # queueing

    def _queue(self, job: StartRun) -> None:
        self.journal.add(job)  # a job taken in before (owed again after a crash) is ignored

    def _start_queued(self) -> None:
        """Starts each queued run, in order, whose runbook has room; one that must wait is
        told which run holds the runbook, or refused if its runbook says so."""
        self._news = False
        holding: dict[str, list[Run]] = {}
        for holder in self.journal.in_state(runs.RUNNING):
            holding.setdefault(holder.runbook, []).append(holder)
        for queued in self.journal.in_state(runs.QUEUED):
            job = queued.job
            holders = holding.setdefault(queued.runbook, [])
            if len(holders) < job.concurrency:
                self._told.discard(queued.id)
                self.journal.started(queued.id)
                self.live[queued.id] = _Live(asyncio.ensure_future(self._run(job)))
                holders.append(queued)
                continue
            who = f"run {holders[0].id} by {holders[0].sender}"
            if job.when_busy == "refuse":
                limit = f"at most {job.concurrency} at a time"
                why = f"{job.runbook} is busy: {who} holds it ({limit})"
                refused = replies.result("refused", error=why)
                self.journal.ended(queued.id, refused)
                self.teller.tell(
                    job, *replies.final(job, refused, "", None), ok=False, error="busy"
                )
                fact(log, "run refused: busy", run=queued.id, holder=holders[0].id)
            elif queued.id not in self._told:
                self._told.add(queued.id)
                text = f"run {queued.id}: {replies.title(job)}: queued behind {who}"
                self.teller.tell(job, text, html.escape(text))

    def _cancel(self, job: CancelRun) -> None:
        found = self.journal.get(job.id)
        reply = job.answer
        if found is None or found.state == runs.ENDED:
            why = "no such run" if found is None else "it has ended already"
            self.teller.tell_answer(
                reply, f"refused: cannot cancel run {job.id}: {why}", False, "not_found"
            )
            return
        if found.sender != job.sender and not job.admin:
            text = (
                f"refused: run {found.id} is {found.sender}'s; only they or an admin may cancel it"
            )
            self.teller.tell_answer(reply, text, False, "forbidden")
            return
        if found.state == runs.QUEUED:
            result = replies.result(
                "cancelled", error=f"cancelled by {job.sender} before it started"
            )
            self.journal.ended(found.id, result)
            self.teller.tell(found.job, *replies.final(found.job, result, "", None))
        else:
            live = self.live.get(found.id)
            if live is not None:
                live.cancel.set()
        self.teller.tell_answer(
            reply, f"cancelled run {found.id} ({found.runbook} by {found.sender})", True, None
        )
        fact(log, "run cancelled", run=found.id, by=job.sender)

    # running

    async def _run(self, job: StartRun) -> None:
        """One run, then what its end allows: its record, its incident's note, the next run."""
        try:
            ran = await self.running.run(job, self.live[job.id].cancel)
        finally:
            self.live.pop(job.id, None)
        outcome = await self.running.finish(job, ran)
        self._record_pending()
        if job.incident:
            await self.running.note_in_incident(job, outcome)
        self._start_queued()

    # recording

    def _record_pending(self) -> None:
        for ended in self.journal.unrecorded():
            assert ended.result is not None
            path = self.outputs / f"run-{ended.id}.txt"
            kept = path.read_text() if path.exists() else ""
            try:
                sha = record(self.repo, ended.job, ended.result, kept)
            except Exception:
                log.exception(
                    "could not record a run; trying again later",
                    extra={"fields": {"run": ended.id}},
                )
                return
            self.journal.recorded(ended.id, sha)
