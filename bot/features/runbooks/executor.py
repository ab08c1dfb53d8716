"""The runbooks executor: the host side of `!run`. It takes the jobs `!run` and `!run cancel`
owe in the outbox, queues runs in its journal, starts them as their runbook's concurrency
allows (or refuses one, naming the run that holds the runbook), streams each run's output into
its reply (one edit at most every `edit_every` seconds: elapsed time, last lines), and at the
end edits the reply with the exit status, duration and output (inline when short, else an
encrypted file attachment), records the run in Git (record.py) and, from an incident's room,
in the incident's timeline.

At start, runs a crash or a stop cut short are marked interrupted, recorded and told so. Every
hour, the output files of runs that ended more than `keep_output_days` ago are removed from the
state directory (once recorded in Git, which keeps the redacted output, and once sent).
A runbook of kind `download` runs the same way, with what downloading.py adds.
"""

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.core.effects import Edit, Job, Upload
from bot.core.logs import fact
from bot.core.tasks import first
from bot.engine.feature import Requests
from bot.features.downloads.host import Downloads
from bot.features.runbooks import journal as runs
from bot.features.runbooks.downloading import Fetched, prepare
from bot.features.runbooks.environ import refusal as env_refusal
from bot.features.runbooks.jobs import EXECUTOR, CancelRun, StartRun, load_job
from bot.features.runbooks.journal import Run, RunbookJournal
from bot.features.runbooks.record import record
from bot.features.runbooks.redact import Redactor
from bot.features.runbooks.requests import RunNoted
from bot.features.runbooks.runner import Launch, RunResult, TunnelLaunch
from bot.features.runbooks.runner import run as run_program
from bot.state.ledger import Ledger
from bot.state.repo import StateRepo

log = logging.getLogger("opsbot.runbooks")

POLL = 0.5  # seconds between looks for jobs
EDIT_EVERY = 3.0  # seconds between edits of a running run's reply
LAST_LINES = 12  # of output, in a running run's reply
INLINE_CHARS = 3000  # an output longer than this (or than INLINE_LINES) comes as a file
INLINE_LINES = 40
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
        ledger: Ledger,
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
        self.requests = requests
        self.hooks_dir = hooks_dir
        self.outputs = state_dir / "runs"
        self.secrets = secrets
        self.grants = grants or {}
        self.edit_every = edit_every
        self.clock = clock
        self.downloads = downloads
        self.keep_output = keep_output_days * 86400.0
        self.journal = RunbookJournal(state_dir / runs.FILE)
        self.live: dict[str, _Live] = {}
        self._edits = 0
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
            result = _result("interrupted", error="interrupted by a restart of opsbot")
            result["started_at"] = found.started_at
            self.journal.ended(found.id, result)
            self._tell(found.job, *_final(found.job, result, "", None))
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
        for running in self.journal.in_state(runs.RUNNING):
            holding.setdefault(running.runbook, []).append(running)
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
                refused = _result("refused", error=why)
                self.journal.ended(queued.id, refused)
                self._tell(job, *_final(job, refused, "", None), ok=False, error="busy")
                fact(log, "run refused: busy", run=queued.id, holder=holders[0].id)
            elif queued.id not in self._told:
                self._told.add(queued.id)
                text = f"run {queued.id}: {_title(job)}: queued behind {who}"
                self._tell(job, text, html.escape(text))

    def _cancel(self, job: CancelRun) -> None:
        found = self.journal.get(job.id)
        reply = job.answer
        if found is None or found.state == runs.ENDED:
            why = "no such run" if found is None else "it has ended already"
            self._tell_answer(
                reply, f"refused: cannot cancel run {job.id}: {why}", False, "not_found"
            )
            return
        if found.sender != job.sender and not job.admin:
            text = (
                f"refused: run {found.id} is {found.sender}'s; only they or an admin may cancel it"
            )
            self._tell_answer(reply, text, False, "forbidden")
            return
        if found.state == runs.QUEUED:
            result = _result("cancelled", error=f"cancelled by {job.sender} before it started")
            self.journal.ended(found.id, result)
            self._tell(found.job, *_final(found.job, result, "", None))
        else:
            live = self.live.get(found.id)
            if live is not None:
                live.cancel.set()
        self._tell_answer(
            reply, f"cancelled run {found.id} ({found.runbook} by {found.sender})", True, None
        )
        fact(log, "run cancelled", run=found.id, by=job.sender)

    # running

    async def _run(self, job: StartRun) -> None:
        run_id = job.id
        live = self.live[run_id]
        started = self.clock()
        fetched = None
        try:
            secrets, missing = self._secret_values(job)
            # Off the loop: a long secret's every form makes a large pattern to compile.
            redact = await asyncio.to_thread(Redactor, list(job.redact), list(secrets.values()))
            if job.kind == "download" and not missing:
                fetched, missing = prepare(self.downloads, job, self.requests.upload_limit())
            if missing:
                result = RunResult("refused", None, 0.0, b"", 0, _EMPTY, missing)
            else:
                result = await self._stream(job, redact, secrets, live.cancel, started, fetched)
                if fetched is not None:
                    result = await fetched.finish(result, job.sha256)
        except asyncio.CancelledError:
            raise  # a stop: the next start marks it interrupted
        except Exception as e:
            log.exception("run failed", extra={"fields": {"run": run_id}})
            result = RunResult(
                "failed",
                None,
                self.clock() - started,
                b"",
                0,
                _EMPTY,
                f"internal error: {type(e).__name__}",
            )
            redact = Redactor([], [])
        finally:
            self.live.pop(run_id, None)
        # Off the loop: redacting the most a runbook may keep (16 MiB) takes seconds.
        output = await asyncio.to_thread(redact.text, result.output)
        if fetched is not None:
            output = fetched.shown(output)
        outcome = _result(
            result.status,
            error=result.error,
            exit_code=result.exit_code,
            duration=result.duration,
            size=result.size,
            sha256=result.sha256,
        )
        outcome["started_at"] = started
        outcome["ended_at"] = self.clock()
        # Kept on the host until it is recorded (and, when attached, sent).
        self.outputs.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.outputs / f"run-{run_id}.txt").write_text(output)
        self.journal.ended(run_id, outcome)
        attachment = self._attachment(job, output)
        ok = result.status == "ok"
        told = fetched.told() if fetched is not None else ""
        self._tell(
            job,
            *_final(job, outcome, output, attachment, told),
            ok=ok,
            error=None if ok else "run_failed",
        )
        if attachment is not None:
            self.ledger.enqueue([(f"run:{run_id}:output", attachment)])
        if fetched is not None:  # the file itself, when it is uploaded
            self.ledger.enqueue([(f"run:{run_id}:file", e) for e in fetched.effects()])
        fact(
            log,
            "run ended",
            run=run_id,
            runbook=job.runbook,
            status=result.status,
            exit_code=result.exit_code,
            seconds=round(result.duration, 3),
            bytes=result.size,
        )
        self._record_pending()
        if job.incident:
            await self._note_in_incident(job, outcome)
        self._start_queued()

    async def _stream(
        self,
        job: StartRun,
        redact: Redactor,
        secrets: dict[str, str],
        cancel: asyncio.Event,
        started: float,
        fetched: Fetched | None = None,
    ) -> RunResult:
        recent = bytearray()

        def heard(data: bytes) -> None:
            if fetched is not None:
                fetched.feed(data)
            recent.extend(data)
            if len(recent) > 16 * 1024:
                del recent[: len(recent) - 16 * 1024]

        async def report() -> None:
            shown = b""
            while True:
                if fetched is None:
                    await asyncio.sleep(self.edit_every)
                else:
                    await fetched.pause(self.edit_every)
                if bytes(recent) == shown and shown:
                    continue
                shown = bytes(recent)
                # A full window has lost its start: a secret may be cut there. Off the loop,
                # like every match of the repo's patterns.
                text = await asyncio.to_thread(
                    redact.live, shown, cut_before=len(shown) >= 16 * 1024
                )
                if fetched is not None:
                    text = fetched.status() + "\n" + fetched.shown(text)
                self._tell(job, *_progress(job, self.clock() - started, text))

        tunnel = job.tunnel
        launch = Launch(job.program, job.args, {**job.env, **secrets}, float(job.timeout), job.keep)
        if fetched is not None:
            launch = fetched.launch(launch)
        self._tell(job, *_progress(job, 0.0, ""))
        reporter = asyncio.ensure_future(report())
        guarded = fetched.guarded(cancel) if fetched is not None else contextlib.nullcontext()
        try:
            async with guarded:
                return await run_program(
                    self.hooks_dir,
                    launch,
                    on_output=heard,
                    cancel=cancel,
                    tunnel=TunnelLaunch(
                        tunnel.program, tunnel.args, tunnel.port, float(tunnel.wait)
                    )
                    if tunnel
                    else None,
                )
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter

    def _secret_values(self, job: StartRun) -> tuple[dict[str, str], str | None]:
        """The secrets' values by variable, or why the run may not start. The job was checked
        when it was asked for; it is checked again here, against this host's config as it is
        now, because the job is data that waited in the outbox."""
        for name in [*job.env, *job.secrets]:
            why = env_refusal(name)
            if why is not None:
                return {}, f"env.{name}: {why}"
        runbook = job.runbook
        granted = self.grants.get(runbook, ())
        values: dict[str, str] = {}
        for env_name, secret in job.secrets.items():
            path = self.secrets.get(secret)
            if path is None:
                where = "[runbooks.secrets] in the host config"
                return {}, f"the secret {secret!r} is not set on this host ({where})"
            if secret not in granted:
                return {}, (
                    f"the host config does not grant the secret {secret!r} to {runbook} "
                    f'(an admin adds [runbooks.grants] {runbook} = ["{secret}"])'
                )
            try:
                values[env_name] = path.read_text().strip()
            except OSError as e:
                return {}, f"the secret {secret!r} cannot be read on this host ({e.strerror})"
        return values, None

    def _attachment(self, job: StartRun, output: str) -> Upload | None:
        if _inline(output) or not job.room:
            return None
        path = self.outputs / f"run-{job.id}.txt"
        return Upload(
            room=job.room,
            name=f"run-{job.id}.txt",
            mimetype="text/plain",
            path=str(path),
            caption=f"output of run {job.id} ({job.runbook})",
            in_reply_to=job.event,
        )

    async def _note_in_incident(self, job: StartRun, outcome: dict[str, Any]) -> None:
        assert job.incident is not None
        text = f"ran {job.command}: {_how(outcome)} (run {job.id}, refs/opsbot/runs)"
        request = RunNoted(job.incident, job.sender, text)
        reply = await self.requests.request(
            request,
            "runbooks",
            room=job.room,
            name="opsbot",
            event_id=f"run:{job.id}:incident",
        )
        if not reply.ok:
            fact(
                log,
                "run not noted in the incident",
                logging.WARNING,
                run=job.id,
                error=reply.text,
            )

    # telling and recording

    def _tell(
        self,
        job: StartRun,
        text: str,
        markup: str,
        *,
        ok: bool = True,
        error: str | None = None,
    ) -> None:
        self._tell_answer(job.answer, text, ok, error, markup)

    def _tell_answer(
        self, answer: str | None, text: str, ok: bool, error: str | None, markup: str | None = None
    ) -> None:
        if answer is None:
            return
        self._edits += 1
        edit = Edit(answer, text, markup if markup is not None else html.escape(text), ok, error)
        self.ledger.edit(edit, f"{answer}#edit:{time.time_ns()}:{self._edits}")

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


_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _result(status: str, **fields: Any) -> dict[str, Any]:
    return {"status": status, "duration": 0.0, "size": 0, "sha256": _EMPTY, **fields}


def _title(job: StartRun) -> str:
    return f"{job.runbook} {job.shown}".strip()


def _how(outcome: dict[str, Any]) -> str:
    status = outcome["status"]
    took = f" in {float(outcome.get('duration') or 0):.1f}s"
    if status == "ok":
        return f"exit 0{took}"
    if status == "failed" and outcome.get("exit_code") not in (None, 0):
        return f"failed: exit {outcome['exit_code']}{took}"
    error = outcome.get("error")
    return f"{status}: {error}" if error and error != status else status


def _inline(output: str) -> bool:
    return len(output) <= INLINE_CHARS and output.count("\n") <= INLINE_LINES


def _progress(job: StartRun, elapsed: float, recent: str) -> tuple[str, str]:
    head = f"run {job.id}: {_title(job)}: running, {elapsed:.0f}s"
    lines = recent.splitlines()[-LAST_LINES:]
    if not lines:
        return head + "…", html.escape(head) + "…"
    tail = "\n".join(lines)
    return f"{head}\n{tail}", f"{html.escape(head)}<pre><code>{html.escape(tail)}</code></pre>"


def _final(
    job: StartRun,
    outcome: dict[str, Any],
    output: str,
    attachment: Upload | None,
    told: str = "",
) -> tuple[str, str]:
    head = f"run {job.id}: {_title(job)}: {_how(outcome)}"
    if outcome.get("size"):
        head += f" · output {outcome['size']} bytes, sha256 {str(outcome['sha256'])[:12]}…"
    if told:  # a download's files: where they are (a link, for the person only)
        head += "\n" + told
    if attachment is not None:
        last = "\n".join(output.splitlines()[-5:])
        text = f"{head}\nthe output is attached ({attachment.name}); its last lines:\n{last}"
        name = html.escape(attachment.name)
        markup = (
            f"{html.escape(head)}<br>the output is attached ({name}); "
            f"its last lines:<pre><code>{html.escape(last)}</code></pre>"
        )
        return text, markup
    if not output.strip():
        return head, html.escape(head)
    return f"{head}\n{output}", f"{html.escape(head)}<pre><code>{html.escape(output)}</code></pre>"
