"""One run on the host, from its start to its reply: the secrets it is granted, checked again;
its redaction; its program, with the output streamed into its reply (one edit at most every
`edit_every` seconds: elapsed time, last lines); at the end, the output kept and the result
told (inline when short, else an attachment), and, from an incident's room, a line in the
incident's timeline. A runbook of kind `download` runs the same way, with what downloading.py
adds.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.effects import Upload
from bot.core.logs import fact
from bot.engine.requests import Requests
from bot.features.downloads.host import Downloads
from bot.features.runbooks import replies
from bot.features.runbooks.downloading import Fetched, prepare
from bot.features.runbooks.environ import refusal as env_refusal
from bot.features.runbooks.jobs import StartRun
from bot.features.runbooks.journal import RunbookJournal
from bot.features.runbooks.redact import Redactor
from bot.features.runbooks.replies import EMPTY_SHA256, Teller
from bot.features.runbooks.requests import RunNoted
from bot.features.runbooks.runner import Launch, RunResult, TunnelLaunch
from bot.features.runbooks.runner import run as run_program
from bot.state.outbox import Outbox

log = logging.getLogger("opsbot.runbooks")

WINDOW = 16 * 1024  # bytes of the latest output a running run's reply is made from


@dataclass(frozen=True)
class Ran:
    """What a run's program came to, before its output is redacted and told."""

    result: RunResult
    redact: Redactor
    fetched: Fetched | None
    started: float


class Running:
    def __init__(
        self,
        journal: RunbookJournal,
        ledger: Outbox,
        teller: Teller,
        requests: Requests,
        hooks_dir: Path,
        outputs: Path,
        secrets: Mapping[str, Path],
        grants: Mapping[str, Collection[str]],
        *,
        edit_every: float,
        clock: Callable[[], float],
        downloads: Downloads | None,
    ) -> None:
        self.journal = journal
        self.ledger = ledger
        self.teller = teller
        self.requests = requests
        self.hooks_dir = hooks_dir
        self.outputs = outputs
        self.secrets = secrets
        self.grants = grants
        self.edit_every = edit_every
        self.clock = clock
        self.downloads = downloads

    async def run(self, job: StartRun, cancel: asyncio.Event) -> Ran:
        """Runs the job's program (or refuses it), streaming its output into the reply."""
        started = self.clock()
        fetched = None
        try:
            secrets, missing = self._secret_values(job)
            # Off the loop: a long secret's every form makes a large pattern to compile.
            redact = await asyncio.to_thread(Redactor, list(job.redact), list(secrets.values()))
            if job.kind == "download" and not missing:
                fetched, missing = prepare(self.downloads, job, self.requests.upload_limit())
            if missing:
                result = RunResult("refused", None, 0.0, b"", 0, EMPTY_SHA256, missing)
            else:
                result = await self._stream(job, redact, secrets, cancel, started, fetched)
                if fetched is not None:
                    result = await fetched.finish(result, job.sha256)
        except asyncio.CancelledError:
            raise  # a stop: the next start marks it interrupted
        except Exception as e:
            log.exception("run failed", extra={"fields": {"run": job.id}})
            error = f"internal error: {type(e).__name__}"
            result = RunResult("failed", None, self.clock() - started, b"", 0, EMPTY_SHA256, error)
            redact = Redactor([], [])
        return Ran(result, redact, fetched, started)

    async def finish(self, job: StartRun, ran: Ran) -> dict[str, Any]:
        """Keeps the run's redacted output, journals its end and tells it; its result."""
        result, fetched = ran.result, ran.fetched
        # Off the loop: redacting the most a runbook may keep (16 MiB) takes seconds.
        output = await asyncio.to_thread(ran.redact.text, result.output)
        if fetched is not None:
            output = fetched.shown(output)
        outcome = replies.result(
            result.status,
            error=result.error,
            exit_code=result.exit_code,
            duration=result.duration,
            size=result.size,
            sha256=result.sha256,
        )
        outcome["started_at"] = ran.started
        outcome["ended_at"] = self.clock()
        # Kept on the host until it is recorded (and, when attached, sent).
        self.outputs.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.outputs / f"run-{job.id}.txt").write_text(output)
        self.journal.ended(job.id, outcome)
        attachment = self._attachment(job, output)
        ok = result.status == "ok"
        told = fetched.told() if fetched is not None else ""
        self.teller.tell(
            job,
            *replies.final(job, outcome, output, attachment, told),
            ok=ok,
            error=None if ok else "run_failed",
        )
        if attachment is not None:
            self.ledger.enqueue([(f"run:{job.id}:output", attachment)])
        if fetched is not None:  # the file itself, when it is uploaded
            self.ledger.enqueue([(f"run:{job.id}:file", e) for e in fetched.effects()])
        fact(
            log,
            "run ended",
            run=job.id,
            runbook=job.runbook,
            status=result.status,
            exit_code=result.exit_code,
            seconds=round(result.duration, 3),
            bytes=result.size,
        )
        return outcome

    async def note_in_incident(self, job: StartRun, outcome: dict[str, Any]) -> None:
        """A line in the timeline of the incident whose room the run was asked in."""
        assert job.incident is not None
        text = f"ran {job.command}: {replies.how(outcome)} (run {job.id}, refs/opsbot/runs)"
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
            if len(recent) > WINDOW:
                del recent[: len(recent) - WINDOW]

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
                text = await asyncio.to_thread(redact.live, shown, cut_before=len(shown) >= WINDOW)
                if fetched is not None:
                    text = fetched.status() + "\n" + fetched.shown(text)
                self.teller.tell(job, *replies.progress(job, self.clock() - started, text))

        launch = Launch(job.program, job.args, {**job.env, **secrets}, float(job.timeout), job.keep)
        if fetched is not None:
            launch = fetched.launch(launch)
        tunnel = job.tunnel
        beside = (
            TunnelLaunch(tunnel.program, tunnel.args, tunnel.port, float(tunnel.wait))
            if tunnel is not None
            else None
        )
        self.teller.tell(job, *replies.progress(job, 0.0, ""))
        reporter = asyncio.ensure_future(report())
        guarded = fetched.guarded(cancel) if fetched is not None else contextlib.nullcontext()
        try:
            async with guarded:
                return await run_program(
                    self.hooks_dir, launch, on_output=heard, cancel=cancel, tunnel=beside
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
        if replies.inline(output) or not job.room:
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
