"""The reconciler: Git says what should run; it makes the host match, and records how it went.

A pass reads the desired state at HEAD and, for every (env, app) whose desired version is not the
one last applied there, starts a job that runs the app's deploy hook (apply.py). An app declared
`[gitops]` is left to its GitOps engine (Argo CD, Flux), which applies the files rendered in the
commit: no hook runs for it here; its observe hook says what the engine applied and what runs
(health.py). Every run and every decision is a `RunOutcome`: journalled in SQLite (journal.py),
noted on the commit that asked for it, and passed to `on_outcome` (recorder.py).

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
import logging
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from bot.config import HostPaths
from bot.core.logs import fact
from bot.core.tasks import first, set_within
from bot.reconcile.apply import Applier, TargetJob
from bot.reconcile.desired import Desired, DesiredState, read_desired
from bot.reconcile.health import HostChecks
from bot.reconcile.journal import Applied, ReconcileJournal
from bot.reconcile.recorder import OnOutcome, Recorder
from bot.state.index import Index
from bot.state.index_tables import IndexTable
from bot.state.notes import all_outcomes
from bot.state.outcome import HookResult, RunOutcome
from bot.state.repo import StateRepo
from bot.state.view import deployment_path

log = logging.getLogger("opsbot.reconcile")

# A pass waits at most this long for the answer announcing a new commit to reach the room.
ANNOUNCE_FIRST = 0.5  # seconds
# Seconds between looks while it waits, unless told sooner (`progress`): a look every 2 ms woke
# the event loop a dozen times while the answer was being sent and received.
ANNOUNCE_POLL = 0.02


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
        self.interval = interval
        # Whether the answers announcing these commits are on their way to the room (the
        # outbox's `being_announced`): a pass after a command's commit begins once the room has
        # the answer that the command is in. Reading Git and starting a hook in that moment took
        # the CPU from the answer's send and from the person's client receiving it, and made
        # the person wait for it a fifth longer (docs/benchmarks.md).
        self.announcing = announcing
        self.attempts_allowed = retries + 1
        state_dir = Path(state_dir)
        # Its own connection to the engine's index (the same file): passes run beside commands.
        self._index = Index(HostPaths(repo.path, state_dir).index, index_tables)
        self._journal = ReconcileJournal(state_dir / "reconcile.sqlite")
        if not self._journal.ready():
            # A new or lost journal: what was applied is still in the notes.
            count = self._journal.rebuild(all_outcomes(repo))
            fact(log, "rebuilt the reconciler journal from git notes", outcomes=count)
        self._passes = asyncio.Lock()
        self._recorder = Recorder(repo, self._journal, on_outcome)
        self._applier = Applier(
            Path(hooks_dir),
            self._journal,
            self._recorder,
            timeout=timeout,
            attempts_allowed=self.attempts_allowed,
            backoff=backoff,
            longest_wait=interval,
        )
        self._checks = HostChecks(
            repo, self._index, self._passes, Path(hooks_dir), timeout=health_timeout
        )
        self._jobs: dict[tuple[str, str], TargetJob] = {}
        self._recovered = False
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()  # an answer may have reached its room: look again
        self._fresh: set[str] = set()  # commits made since the last pass began
        self._loop: asyncio.AbstractEventLoop | None = None
        self._health_task: asyncio.Task[None] | None = None

    def close(self) -> None:
        self._index.close()
        self._journal.close()

    # what the host runs

    def applied(self) -> dict[tuple[str, str], Applied]:
        """(env, app) -> the version last applied successfully, when, at whose request. For an
        app a GitOps engine applies, what its observe hook last said the engine applied."""
        return {**self._journal.applied(), **self._checks.engine_applied()}

    def outcomes(self, env: str, app: str) -> list[RunOutcome]:
        """Everything that happened on (env, app), oldest first."""
        return self._journal.outcomes(env, app)

    def health(self) -> dict[tuple[str, str], HookResult]:
        """The last health check of each (env, app) with a health hook; see `run`."""
        return self._checks.health()

    def observed(self) -> dict[tuple[str, str], str]:
        """The version each app's observe hook last printed (its first line), where it has one."""
        return self._checks.observed()

    async def refresh_health(self) -> None:
        """Runs the health checks and keeps their results for `health()`."""
        await self._checks.refresh()

    async def check_health(self) -> dict[tuple[str, str], HookResult]:
        """Runs the health hook of every app deployed at HEAD, all at once, as `<hook> -- <app>
        <env>` (exit 0: healthy). Apps without one, and suspended ones, are left out."""
        return await self._checks.check_health()

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
        self._on_loop(self._woken, commit)

    def progress(self) -> None:
        """Told that what `announcing` says may have changed (an answer was sent, or came back
        in the bot's own sync). Safe to call from any thread."""
        self._on_loop(self._progress.set)

    def _on_loop(self, call: Callable[..., None], *args: object) -> None:
        """Runs `call` on the reconciler's event loop: now if that is this thread's (or none
        runs yet), else as soon as the loop gets to it."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            call(*args)
        else:
            loop.call_soon_threadsafe(call, *args)

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

    async def _pass(self) -> tuple[list[RunOutcome], list[TargetJob]]:
        async with self._passes:
            fresh, self._fresh = self._fresh, set()
            await self._announced_first(fresh)
            outcomes = []
            if not self._recovered:
                outcomes += await self._recorder.recover(self.attempts_allowed)
                self._recovered = True
            await self._recorder.flush_notes()
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
                    outcomes.append(await self._applier.no_hook(want))
                    continue
                to_start.append((want, job))
            # A pass begun before a command's commit landed finds it here, unannounced.
            await self._announced_first({want.commit for want, _ in to_start})
            return outcomes, [self._start(want, previous=job) for want, job in to_start]

    async def _announced_first(self, commits: set[str]) -> None:
        if not commits:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANNOUNCE_FIRST
        while (left := deadline - loop.time()) > 0:
            self._progress.clear()  # before the look: news after it is not missed
            if not self.announcing(commits):
                return
            await set_within(self._progress, min(ANNOUNCE_POLL, left))

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

    def _start(self, want: Desired, previous: TargetJob | None) -> TargetJob:
        env, app = want.target
        first = self._journal.attempts(want.commit, env, app) + 1
        job = TargetJob(want, first)
        waits_for = previous.task if previous is not None else None
        job.task = asyncio.create_task(
            self._applier.work(job, waits_for), name=f"reconcile {env}/{app}"
        )
        self._jobs[want.target] = job
        return job

    async def _cancel_jobs(self) -> None:
        tasks = [job.task for job in self._jobs.values() if job.task is not None and job.active]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
