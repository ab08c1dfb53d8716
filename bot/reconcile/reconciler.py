"""The reconciler: Git says what should run; it makes the host match, and records how it went.

A pass reads the desired state at HEAD and, for every (env, app) whose desired version is not the
one last applied there, starts a job that runs the app's deploy hook as `<hook> -- <app>
<version> <env>`. An app declared `[gitops]` is left to its GitOps engine (Argo CD, Flux), which
applies the files rendered in the commit: no hook runs for it here; its observe hook says what the
engine applied and what runs. A failed run is retried with exponential backoff, `retries`
times, then given up. Every run and every decision is an `RunOutcome`: journalled in SQLite,
noted on the commit that asked for it, and passed to `on_outcome`.

The rules that keep the host sane:
- One job per (env, app) at a time, and a job starts only when the previous one on that target
  has ended, so two runs on one target never overlap. Different targets run in parallel.
- A request is settled once: applied, given up, or superseded. The interval re-reads Git (to
  catch commits made by other processes), it does not loop on a request that failed for good; a
  new commit, even of the same version, is a new request.
- A newer desired version supersedes a job waiting to retry; a hook already running is left to
  finish (killing a deploy halfway helps nobody), then the newer version runs.
- `suspended/<name>.toml` at HEAD (name an app or an environment) stops new runs and pending
  retries there; a running hook finishes.
- After a command's commit, the pass waits (at most `ANNOUNCE_FIRST`) until the room has the
  answer announcing it: the person hears first, then the host acts.
- A run is journalled as "started" before its hook runs. A crash leaves that row behind; the next
  start records it as interrupted, notes it, and runs the request again. Stopping the reconciler
  (cancelling `run`) kills running hooks and records them the same way.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.config.paths import HostPaths
from bot.core.logs import fact
from bot.core.tasks import first
from bot.reconcile.desired import Desired, DesiredState, read_desired
from bot.reconcile.hooks import run_hook
from bot.reconcile.journal import Applied, RunJournal
from bot.state.index import Index
from bot.state.index_tables import IndexTable
from bot.state.notes import add_note, all_outcomes
from bot.state.outcome import HookResult, RunOutcome
from bot.state.repo import StateRepo
from bot.state.view import deployment_path

log = logging.getLogger("opsbot.reconcile")

OnOutcome = Callable[[RunOutcome], Awaitable[None]]
# A pass waits at most this long for the answer announcing a new commit to reach the room.
ANNOUNCE_FIRST = 0.5  # seconds
ANNOUNCE_POLL = 0.002  # seconds between looks while it waits


def utc_now() -> datetime:
    return datetime.now(UTC)


def hook_args(*positional: str) -> list[str]:
    """A hook's argv after its name: `--`, then the positional arguments.

    Names and versions are validated when read from the repo (none starts with `-`); the `--`
    is the second wall, so that a hook's option parser (getopt, argparse) never reads one as an
    option, whatever reaches it.
    """
    return ["--", *positional]


@dataclass(eq=False)
class _Job:
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


class Reconciler:
    def __init__(
        self,
        repo: StateRepo,
        state_dir: Path,
        hooks_dir: Path,
        *,
        interval: float = 300,
        timeout: float = 600,
        retries: int = 3,
        backoff: float = 5.0,
        on_outcome: OnOutcome | None = None,
        health_timeout: float = 30,
        announcing: Callable[[Collection[str]], bool] = lambda _commits: False,
        index_tables: Sequence[IndexTable] = (),
    ) -> None:
        self.repo = repo
        self.hooks_dir = Path(hooks_dir)
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.on_outcome = on_outcome
        self.health_timeout = health_timeout
        # Whether the answers announcing these commits are on their way to the room (the
        # outbox's `being_announced`): a pass after a command's commit begins once the room has
        # the answer that the command is in. Reading Git and starting a hook in that moment took
        # the CPU from the answer's send and from the person's client receiving it, and made
        # the person wait for it a fifth longer (docs/benchmarks.md).
        self.announcing = announcing
        state_dir = Path(state_dir)
        # Its own connection to the engine's index (the same file): passes run beside commands.
        self._index = Index(HostPaths(repo.path, state_dir).index, index_tables)
        self._journal = RunJournal(state_dir / "reconcile.sqlite")
        if not self._journal.ready():
            # A new or lost journal: what was applied is still in the notes.
            count = self._journal.rebuild(all_outcomes(repo))
            fact(log, "rebuilt the reconciler journal from git notes", outcomes=count)
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._passes = asyncio.Lock()
        self._recovered = False
        self._wake = asyncio.Event()
        self._fresh: set[str] = set()  # commits made since the last pass began
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health: dict[tuple[str, str], HookResult] = {}
        self._observed: dict[tuple[str, str], str] = {}
        self._engine_applied: dict[tuple[str, str], Applied] = {}
        self._health_task: asyncio.Task[None] | None = None

    def close(self) -> None:
        self._index.close()
        self._journal.close()

    @property
    def attempts_allowed(self) -> int:
        return self.retries + 1

    # what the host runs

    def applied(self) -> dict[tuple[str, str], Applied]:
        """(env, app) -> the version last applied successfully, when, at whose request. For an
        app a GitOps engine applies, what its observe hook last said the engine applied."""
        return {**self._journal.applied(), **self._engine_applied}

    def outcomes(self, env: str, app: str) -> list[RunOutcome]:
        """Everything that happened on (env, app), oldest first."""
        return self._journal.outcomes(env, app)

    def health(self) -> dict[tuple[str, str], HookResult]:
        """The last health check of each (env, app) with a health hook; see `run`."""
        return dict(self._health)

    async def refresh_health(self) -> None:
        """Runs the health checks and keeps their results for `health()`."""
        try:
            self._health = await self.check_health()
            state, printed = await self._ask_all("observe")
            lines = {
                target: result.output_tail.strip().splitlines()
                for target, result in printed.items()
                if result.ok and result.output_tail.strip()
            }
            self._observed = {target: said[0].strip() for target, said in lines.items()}
            self._engine_applied = {
                target: _engine_applied(state.targets[target], said)
                for target, said in lines.items()
                if state.targets[target].rendered
            }
        except Exception:
            log.exception("health checks failed")

    async def check_health(self) -> dict[tuple[str, str], HookResult]:
        """Runs the health hook of every app deployed at HEAD, all at once, as `<hook> -- <app>
        <env>` (exit 0: healthy). Apps without one, and suspended ones, are left out."""
        return await self._ask("health")

    def observed(self) -> dict[tuple[str, str], str]:
        """The version each app's observe hook last printed (its first line), where it has one."""
        return dict(self._observed)

    async def _ask(self, which: str) -> dict[tuple[str, str], HookResult]:
        """Runs one kind of read-only hook (`health`, `observe`) of every deployed app at once."""
        return (await self._ask_all(which))[1]

    async def _ask_all(self, which: str) -> tuple[DesiredState, dict[tuple[str, str], HookResult]]:
        async with self._passes:  # the index is read by one pass at a time
            state = await asyncio.to_thread(read_desired, self.repo, self._index)
        checks = {
            target: run_hook(
                self.hooks_dir,
                getattr(want, which),
                hook_args(want.app, want.env),
                timeout=self.health_timeout,
                env={"OPSBOT_APP": want.app, "OPSBOT_ENV": want.env},
            )
            for target, want in state.targets.items()
            if getattr(want, which)
        }
        results = await asyncio.gather(*checks.values())
        return state, dict(zip(checks, results, strict=True))

    # running

    async def run(self, stop: asyncio.Event) -> None:
        """Reconciles now, then on every `trigger()` and every `interval`, until `stop` is set.

        On stop, pending retries are dropped and running hooks killed (recorded as interrupted,
        and run again at the next start).
        """
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self._pass()
                except Exception:
                    # A bug or an unreadable repo must not end reconciliation for good.
                    log.exception("reconcile pass failed")
                # Health is checked after every pass, in the background: a slow health hook
                # must not hold up the next deploy. `!status` shows the last result.
                if self._health_task is None or self._health_task.done():
                    self._health_task = asyncio.ensure_future(self.refresh_health())
                await first(self._wake, stop, timeout=self.interval)
        finally:
            if self._health_task is not None:
                self._health_task.cancel()
                await asyncio.gather(self._health_task, return_exceptions=True)
            await self._cancel_jobs()

    def trigger(self, commit: str | None = None) -> None:
        """Asks for a pass now, after `commit` if a command made one. Safe to call from any
        thread."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._woken(commit)
        else:
            loop.call_soon_threadsafe(self._woken, commit)

    def _woken(self, commit: str | None) -> None:
        if commit is not None:
            self._fresh.add(commit)
        self._wake.set()

    async def reconcile_once(self) -> list[RunOutcome]:
        """One pass, waiting for the jobs it starts; returns their outcomes (and, on the first
        pass, the runs found interrupted by a crash)."""
        outcomes, jobs = await self._pass()
        for job in jobs:
            assert job.task is not None
            outcomes += await job.task
        return outcomes

    # a pass

    async def _pass(self) -> tuple[list[RunOutcome], list[_Job]]:
        async with self._passes:
            fresh, self._fresh = self._fresh, set()
            await self._announced_first(fresh)
            outcomes = []
            if not self._recovered:
                outcomes += await self._recover()
                self._recovered = True
            await self._flush_notes()
            state = await asyncio.to_thread(read_desired, self.repo, self._index)
            self._stop_unwanted(state)
            to_start = []
            for want in state.targets.values():
                job = self._jobs.get(want.target)
                if job is not None and job.working_on(want.commit):
                    continue
                if want.rendered:
                    continue  # its GitOps engine applies the files rendered in the commit
                if not self._needs_run(want):
                    continue
                if want.hook is None:
                    outcomes.append(await self._no_hook(want))
                    continue
                to_start.append((want, job))
            # A pass begun before a command's commit landed finds it here, unannounced.
            await self._announced_first({want.commit for want, _ in to_start})
            return outcomes, [self._start(want, previous=job) for want, job in to_start]

    async def _announced_first(self, commits: set[str]) -> None:
        if not commits:
            return
        deadline = asyncio.get_running_loop().time() + ANNOUNCE_FIRST
        while self.announcing(commits) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(ANNOUNCE_POLL)

    def _needs_run(self, want: Desired) -> bool:
        env, app = want.target
        last = self._journal.last_run(env, app)
        if last is not None and last.ok and last.version == want.version:
            return False  # the host runs it already: an unchanged desired state runs no hook
        if self._journal.closed(want.commit, env, app):
            return False  # given up or superseded: only a new request runs the hook again
        if want.hook is None:
            said = self._journal.last_for(want.commit, env, app)
            return said is None or said.status != "no-hook"  # say it once, not every interval
        return True

    def _stop_unwanted(self, state: DesiredState) -> None:
        for target, job in self._jobs.items():
            want = state.targets.get(target)
            if not job.active or (want is not None and want.commit == job.want.commit):
                continue
            env, app = target
            if state.is_suspended(env, app):
                fact(log, "suspended: pending retries dropped", env=env, app=app)
                job.stop(None)
            elif want is None:
                job.stop(f"the removal of {deployment_path(env, app)}")
            else:
                job.stop(f"{want.version} (commit {want.commit[:7]})")

    def _start(self, want: Desired, previous: _Job | None) -> _Job:
        env, app = want.target
        first = self._journal.attempts(want.commit, env, app) + 1
        job = _Job(want, first)
        waits_for = previous.task if previous is not None else None
        job.task = asyncio.create_task(self._work(job, waits_for), name=f"reconcile {env}/{app}")
        self._jobs[want.target] = job
        return job

    # a job

    async def _work(
        self, job: _Job, previous: "asyncio.Task[list[RunOutcome]] | None"
    ) -> list[RunOutcome]:
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
                delay = min(self.backoff * 2 ** (attempt - job.first_attempt), self.interval)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await job.stopped.wait()
                attempt += 1
        except Exception:
            # A bug here must not take the other targets down; the next pass tries again.
            fields = {"env": want.env, "app": want.app, "commit": want.commit}
            log.exception("reconcile job failed", extra={"fields": fields})
            return outcomes

    async def _attempt(self, want: Desired, attempt: int) -> RunOutcome:
        assert want.hook is not None
        env, app = want.target
        run_id = self._journal.start(
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
            self._journal.interrupt(run_id, utc_now(), self.attempts_allowed)
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
        self._journal.finish(run_id, outcome)
        await self._publish(run_id, outcome)
        return outcome

    async def _superseded(self, job: _Job, attempts: int) -> RunOutcome:
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
        await self._publish(self._journal.record(outcome), outcome)
        return outcome

    async def _no_hook(self, want: Desired) -> RunOutcome:
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
        await self._publish(self._journal.record(outcome), outcome)
        return outcome

    # recording

    async def _publish(self, run_id: int, outcome: RunOutcome) -> None:
        result = outcome.result
        fact(
            log,
            f"deploy {outcome.status}",
            logging.INFO if outcome.ok else logging.WARNING,
            app=outcome.app,
            version=outcome.version,
            env=outcome.env,
            commit=outcome.commit,
            attempt=outcome.attempt,
            final=outcome.final,
            hook=result.hook if result else None,
            exit_code=result.exit_code if result else None,
            error=result.error if result else outcome.detail or None,
        )
        await self._note(run_id, outcome)
        if self.on_outcome is not None:
            try:
                await self.on_outcome(outcome)
            except Exception:
                log.exception("on_outcome failed")

    async def _note(self, run_id: int, outcome: RunOutcome) -> None:
        try:
            await asyncio.to_thread(add_note, self.repo, outcome)
        except Exception as e:
            # The journal still has it (noted = 0): the next pass writes the note.
            fact(
                log,
                "could not write the note; will retry",
                logging.WARNING,
                commit=outcome.commit,
                error=repr(e),
            )
            return
        self._journal.noted(run_id)

    async def _flush_notes(self) -> None:
        for run_id, outcome in self._journal.unnoted():
            await self._note(run_id, outcome)

    async def _recover(self) -> list[RunOutcome]:
        """Runs a crash left "started" become interrupted; their requests run again."""
        found = self._journal.interrupt_unfinished(utc_now(), self.attempts_allowed)
        for run_id, outcome in found:
            await self._publish(run_id, outcome)
        return [outcome for _, outcome in found]

    async def _cancel_jobs(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task is not None and job.active]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _engine_applied(want: Desired, said: list[str]) -> Applied:
    """What a GitOps engine applied, from its app's observe hook: the version on the second line
    (what the engine wrote into the cluster), or, without one, the running version (first)."""
    version = (said[1] if len(said) > 1 else said[0]).strip()
    return Applied(version, utc_now(), want.commit if version == want.version else "")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
