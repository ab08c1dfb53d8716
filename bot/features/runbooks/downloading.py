"""The executor's side of a runbook of kind `download` (bot/features/downloads/ holds the download
itself): what its program gets on top of a command's (its directory, its quota, a limit on the
size of any file it writes), the guard beside it, the progress line and the early link in the
edits, and at its end the delivery, which decides the run's outcome.

What the reply says of a link is for the person and the room only: it is never in the run's
record (`Fetched.outcome` keeps the link out of the error it records).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from bot.core.effects import Effect
from bot.features.downloads import progress
from bot.features.downloads.host import Downloads
from bot.features.downloads.run import Delivery, DownloadRun
from bot.features.downloads.store import QuotaExceeded
from bot.features.runbooks.jobs import StartRun
from bot.features.runbooks.runner import Launch, RunResult


def prepare(
    downloads: Downloads | None, job: StartRun, upload_limit: int | None
) -> tuple["Fetched | None", str | None]:
    """A download's side of a run, its directory made; or why it cannot start."""
    if downloads is None:
        return None, "downloads are not set up on this host (it runs without a host config)"
    fetched = Fetched(downloads, job, upload_limit)
    return fetched, fetched.begin()


_FOUND_AT_THE_END = {"checksum", "empty", "undeliverable"}  # the program itself exited 0


class Fetched:
    """One download run as the executor drives it."""

    def __init__(self, downloads: Downloads, job: StartRun, upload_limit: int | None):
        self.job = job
        self.run = DownloadRun(downloads, job.id, job.sender, job.room, upload_limit)
        self.run.declared = job.sha256  # hashed as the files arrive
        self.delivery: Delivery | None = None
        self.env: dict[str, str] = {}
        self._waiting_for_link = True

    def begin(self) -> str | None:
        """Makes the run's directory; why it cannot start, when the quota is used up."""
        try:
            self.env = self.run.begin()
        except QuotaExceeded as e:
            used = f"{progress.size(e.quota - e.room)} of {progress.size(e.quota)}"
            return (
                f"the download quota is used up ({used} in use); older downloads are removed "
                "after [downloads] retention_hours, or ask an admin to raise quota_bytes"
            )
        return None

    def launch(self, launch: Launch) -> Launch:
        return replace(
            launch, env={**launch.env, **self.env}, max_file_bytes=max(1, self.run.budget)
        )

    def feed(self, data: bytes) -> None:
        self.run.feed(data)

    @contextlib.asynccontextmanager
    async def guarded(self, cancel: asyncio.Event) -> AsyncIterator[None]:
        """The quota guard (which also offers the early link) runs beside the program."""
        guard = asyncio.ensure_future(self.run.guard(cancel))
        try:
            yield
        finally:
            guard.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await guard

    async def pause(self, seconds: float) -> None:
        """Until the next edit: `seconds`, or less when the link is first offered, so the
        person may start at once."""
        if self._waiting_for_link:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.run.offered.wait(), seconds)
            self._waiting_for_link = not self.run.offered.is_set()
        else:
            await asyncio.sleep(seconds)

    def status(self) -> str:
        """The lines the running reply shows above the output: the bar, and the early link."""
        return "\n".join(filter(None, [self.run.progress_text(), self.run.offer_text()]))

    @staticmethod
    def shown(output: str) -> str:
        """The output without its progress reports (the bar says them)."""
        lines = output.splitlines(keepends=True)
        return "".join(ln for ln in lines if not isinstance(progress.parse(ln), progress.Progress))

    async def finish(self, result: RunResult, declared: dict[str, str]) -> RunResult:
        """Delivers (checksums first; a thread, as it reads the files) and says what the run
        came to: a failed delivery fails a run that exited 0, a stop for the quota says why."""
        self.delivery = await asyncio.to_thread(
            self.run.deliver,
            result.status == "ok",
            declared,
            self.run.upload_limit,
            self.job.event,
            result.error,
        )
        if self.run.stopped is not None:
            return replace(
                result,
                status="stopped",
                exit_code=None,
                error=self.run.stopped.removeprefix("stopped: "),
            )
        if result.status == "ok" and not self.delivery.ok:
            why = self.delivery.text.splitlines()[0].rstrip(":")
            return replace(result, status="failed", error=why)
        return result

    def told(self) -> str:
        """What the final reply says of the files (a link in it is for the person only): where
        they are, or what the delivery found wrong beyond the reply's first line."""
        delivery = self.delivery
        if delivery is None or self.run.stopped is not None:
            return ""
        if delivery.ok:
            return delivery.text
        details = delivery.text.splitlines()[1:]
        return "\n".join(details) if delivery.error in _FOUND_AT_THE_END else ""

    def effects(self) -> tuple[Effect, ...]:
        return self.delivery.effects if self.delivery is not None else ()
