"""Applying one request to its target: the deploy hook's attempts, the waits between them, and
what each came to.

A run is journalled as "started" before its hook runs, so a crash leaves evidence (see
`Recorder.recover`). A failed run is retried with exponential backoff until the attempts
allowed are spent; a job stopped while it waits (a newer version, a suspension) says so once
and ends; a hook already running is left to finish, since killing a deploy halfway helps nobody.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.core.logs import fact
from bot.reconcile.desired import Desired
from bot.reconcile.hooks import hook_args, run_hook
from bot.reconcile.journal import ReconcileJournal
from bot.reconcile.recorder import Recorder
from bot.state.outcome import RunOutcome

log = logging.getLogger("opsbot.reconcile")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class TargetJob:
    """Applying one request to its target: the attempts, the waits between them."""

    want: Desired
    first_attempt: int
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    superseded_by: str | None = None  # words for the note; None when stopped by a suspension
    task: "asyncio.Task[list[RunOutcome]] | None" = None

    def stop(self, superseded_by: str | None) -> None:
        if not self.stopped.is_set():
            self.superseded_by = superseded_by
            self.stopped.set()

    @property
    def active(self) -> bool:
        return self.task is not None and not self.task.done()

    def working_on(self, commit: str) -> bool:
        # A job stopped by a suspension (lifted since) is not: a new job follows it.
        return self.active and self.want.commit == commit and not self.stopped.is_set()


class Applier:
    """Runs jobs' deploy hooks as `<hook> -- <app> <version> <env>` and records each outcome."""

    def __init__(
        self,
        hooks_dir: Path,
        journal: ReconcileJournal,
        recorder: Recorder,
        *,
        timeout: float,
        attempts_allowed: int,
        backoff: float,
        longest_wait: float,
    ) -> None:
        self.hooks_dir = hooks_dir
        self.journal = journal
        self.recorder = recorder
        self.timeout = timeout
        self.attempts_allowed = attempts_allowed
        self.backoff = backoff
        self.longest_wait = longest_wait

    async def work(
        self, job: TargetJob, previous: "asyncio.Task[list[RunOutcome]] | None"
    ) -> list[RunOutcome]:
        """The job's attempts, after `previous` (the job it replaces) has ended."""
        want = job.want
        outcomes: list[RunOutcome] = []
        try:
            if previous is not None:
                # Never two runs on one target: the job it replaces may still be running a hook.
                await asyncio.wait([previous])
            attempt = job.first_attempt
            while True:
                if job.stopped.is_set():
                    if job.superseded_by is not None:
                        outcomes.append(await self._superseded(job, attempt - 1))
                    return outcomes
                outcome = await self._attempt(want, attempt)
                outcomes.append(outcome)
                if outcome.final:
                    return outcomes
                delay = min(self.backoff * 2 ** (attempt - job.first_attempt), self.longest_wait)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await job.stopped.wait()
                attempt += 1
        except Exception:
            # A bug here must not take the other targets down; the next pass tries again.
            fields = {"env": want.env, "app": want.app, "commit": want.commit}
            log.exception("reconcile job failed", extra={"fields": fields})
            return outcomes

    async def no_hook(self, want: Desired) -> RunOutcome:
        """Records that the request has no deploy hook to run, and why."""
        outcome = RunOutcome(
            commit=want.commit,
            app=want.app,
            env=want.env,
            version=want.version,
            status="no-hook",
            attempt=0,
            final=True,
            result=None,
            at=utc_now(),
            detail=want.why_no_hook,
        )
        await self.recorder.publish(self.journal.record(outcome), outcome)
        return outcome

    async def _attempt(self, want: Desired, attempt: int) -> RunOutcome:
        assert want.hook is not None
        env, app = want.target
        run_id = self.journal.start(
            want.commit, env, app, want.version, attempt, want.hook, utc_now()
        )
        fact(
            log,
            "running deploy hook",
            hook=want.hook,
            app=app,
            version=want.version,
            env=env,
            commit=want.commit,
            attempt=attempt,
        )
        variables = {
            "OPSBOT_APP": app,
            "OPSBOT_VERSION": want.version,
            "OPSBOT_ENV": env,
            "OPSBOT_COMMIT": want.commit,
            "OPSBOT_ATTEMPT": str(attempt),
        }
        try:
            result = await run_hook(
                self.hooks_dir,
                want.hook,
                hook_args(app, want.version, env),
                timeout=self.timeout,
                env=variables,
            )
        except asyncio.CancelledError:
            # Stopped mid-run: the hook is killed. Its note is written at the next start.
            self.journal.interrupt(run_id, utc_now(), self.attempts_allowed)
            raise
        final = result.ok or attempt >= self.attempts_allowed
        outcome = RunOutcome(
            commit=want.commit,
            app=app,
            env=env,
            version=want.version,
            status="ok" if result.ok else "failed",
            attempt=attempt,
            final=final,
            result=result,
            at=utc_now(),
        )
        self.journal.finish(run_id, outcome)
        await self.recorder.publish(run_id, outcome)
        return outcome

    async def _superseded(self, job: TargetJob, attempts: int) -> RunOutcome:
        want = job.want
        outcome = RunOutcome(
            commit=want.commit,
            app=want.app,
            env=want.env,
            version=want.version,
            status="superseded",
            attempt=attempts,
            final=True,
            result=None,
            at=utc_now(),
            detail=job.superseded_by or "",
        )
        await self.recorder.publish(self.journal.record(outcome), outcome)
        return outcome
