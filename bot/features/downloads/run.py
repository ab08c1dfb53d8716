"""One download run, as the runbook runner drives it for a runbook of kind `download`:

    download = DownloadRun(downloads, run_id, person, room)
    env = download.begin()                      # its directory; QuotaExceeded if none is left
    guard = asyncio.ensure_future(download.guard(cancel))
    result = await runner.run(hooks, Launch(..., env={**env, ...},
                              max_file_bytes=download.budget), on_output=download.feed,
                              cancel=cancel)
    text = download.progress_text()              # for the edits while it runs
    url = download.early_url                     # set once the file is offered (see `offer`)
    delivery = download.deliver(result.status == "ok", runbook.sha256, limit, event)

The program gets `OPSBOT_DOWNLOAD_DIR` (write the files there) and `OPSBOT_DOWNLOAD_QUOTA_BYTES`
(what is left of the quota when it starts), and reports on stdout (progress.py).
The quota is kept three ways: a total announced past what is left stops the run at once; the
kernel refuses to grow any one file past what was left at the start (RLIMIT_FSIZE); and the
directory is measured every `GUARD_SECONDS`, stopping the run (its process group) once all
downloads together pass the quota. A stopped or failed run's files are removed at once.

A file that will be too large to upload (its total announced past the upload limit) is
offered as a link while the program still writes it (`offer`, from the guard): the person's
fetch follows the growing file (pages.py), so the download reaches them at the
program's pace instead of after it. Its last bytes are held back until the run has ended and
its checksums were verified; a run that fails cuts the fetch short, so a file that fails its
checksum is never received whole. A file with an expected checksum is hashed while it is
written (bot/features/downloads/digests.py), so that check does not read it all again at the end.
"""

import asyncio
import contextlib
import mimetypes
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.core.effects import Effect, Upload
from bot.features.downloads import progress
from bot.features.downloads.checksums import mismatches
from bot.features.downloads.digests import BLOCK, Digests
from bot.features.downloads.host import Downloads
from bot.features.downloads.links import DONE, FAILED, Link
from bot.features.downloads.progress import Checksum, Meter, Progress
from bot.features.downloads.store import QuotaExceeded
from bot.features.downloads.writeback import WriteBehind

GUARD_SECONDS = 0.2
OFFER_SECONDS = 0.02  # between looks for the file to offer, until it is offered
HASH_SECONDS = 0.1  # between reads of the files being hashed as they grow
WRITEBACK_SECONDS = 0.05  # between looks for what to write back (writeback.py)
MAX_LINE = 4096  # a longer "line" is output, not a report


@dataclass(frozen=True)
class Delivery:
    ok: bool
    text: str  # what the reply says (a link in it is for the person only: never record it)
    effects: tuple[Effect, ...] = ()
    error: str | None = None  # a code: quota, checksum, empty, undeliverable, failed
    files: tuple[str, ...] = field(default=())


class DownloadRun:
    def __init__(
        self,
        downloads: Downloads,
        run_id: str,
        person: str,
        room: str | None,
        upload_limit: int | None = None,
    ) -> None:
        self.downloads = downloads
        self.upload_limit = upload_limit  # the homeserver's, as the run starts (None: unknown)
        self.link: Link | None = None  # offered while the program writes
        self.early_url: str | None = None
        self.offered = asyncio.Event()
        self.run_id = run_id
        self.person = person
        self.room = room
        self.meter = Meter()
        self.last: Progress | None = None
        self.reported: dict[str, str] = {}
        self.declared: Mapping[str, str] = {}  # the runbook's checksums, hashed as they arrive
        self.digests = Digests()
        self.writeback = WriteBehind()
        self.stopped: str | None = None  # why the bot stopped the run, in the person's words
        self.budget = 0
        self._cancel: asyncio.Event | None = None  # the guard's, set as soon as a report says
        self._partial = b""

    def begin(self) -> dict[str, str]:
        """Makes the run's directory and records the run; raises QuotaExceeded when the
        quota is used up already."""
        store = self.downloads.store
        self.budget = store.room()
        if self.budget <= 0:
            raise QuotaExceeded(1, 0, store.quota)
        path = store.open_run(self.run_id)
        self.downloads.ledger.started(self.run_id, self.person, self.room)
        return {
            "OPSBOT_DOWNLOAD_DIR": str(path),
            "OPSBOT_DOWNLOAD_QUOTA_BYTES": str(self.budget),
        }

    def feed(self, data: bytes) -> None:
        """The program's output as it comes: reports are taken out of it, line by line."""
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE:
            self._partial = b""
        for raw in lines:
            if len(raw) > MAX_LINE:
                continue
            report = progress.parse(raw.decode("utf-8", "replace"))
            if isinstance(report, Progress):
                self.last = report
                self.meter.observe(report.done, time.monotonic())
                if report.total is not None and report.total > self.budget and not self.stopped:
                    self.stopped = (
                        f"stopped: it would need {progress.size(report.total)}, and only "
                        f"{progress.size(self.budget)} of the {self._quota()} download quota "
                        "is left"
                    )
                    if self._cancel is not None:
                        self._cancel.set()
            elif isinstance(report, Checksum):
                self.reported[report.name] = report.sha256

    def progress_text(self) -> str:
        if self.last is None:
            return "downloading…"
        return "downloading: " + progress.describe(self.last, self.meter.rate())

    async def guard(self, cancel: asyncio.Event, every: float = GUARD_SECONDS) -> None:
        """Until cancelled: stops the run (sets `cancel`) once it is over the quota; offers
        the link to the file being written (looking every `OFFER_SECONDS` while it may be
        offered: the person may start as soon as the file is there, and a fast source brings
        a GiB in a second); hashes the files with an expected checksum as they arrive, and
        writes every file back to the disk as it arrives (writeback.py)."""
        store = self.downloads.store
        self._cancel = cancel
        hashing = asyncio.ensure_future(self._hash_as_written())
        writing = asyncio.ensure_future(self._write_behind()) if WriteBehind.available() else None
        measured = 0.0
        try:
            while not cancel.is_set():
                if self._may_offer():
                    await asyncio.to_thread(self.offer)
                if self.stopped is None and time.monotonic() - measured >= every:
                    measured = time.monotonic()
                    if await asyncio.to_thread(store.used) > store.quota:
                        self.stopped = (
                            f"stopped: the downloads went past their {self._quota()} quota"
                        )
                if self.stopped is not None:
                    cancel.set()
                    return
                await asyncio.sleep(min(every, OFFER_SECONDS) if self._may_offer() else every)
        finally:
            hashing.cancel()  # a read under way ends on its own; `deliver` reads the rest
            if writing is not None:
                writing.cancel()  # the last few MiB the kernel writes back as it would

    def _may_offer(self) -> bool:
        """Whether the file may still be offered while written: no link yet, a listener to
        offer it on, and no total reported yet or one past the upload limit."""
        if self.link is not None or self.stopped is not None or self.downloads.base_url is None:
            return False
        total = self.last.total if self.last is not None else None
        return total is None or self.upload_limit is None or total > self.upload_limit

    async def _hash_as_written(self, every: float = HASH_SECONDS) -> None:
        """Reads each file whose checksum is expected as it grows (its name as the run's own
        listing gives it, never joined from a report); looks again at once while it is a
        block or more behind, else after `every` (a slow source is not read a packet at a
        time)."""
        read: dict[str, int] = {}
        while True:
            expected = {**self.reported, **self.declared}
            behind = False
            if expected:
                files = await asyncio.to_thread(self.downloads.store.files, self.run_id)
                for found in files:
                    if found.name in expected and found.size > read.get(found.name, 0):
                        with contextlib.suppress(OSError):  # removed: the run failed
                            was = read.get(found.name, 0)
                            read[found.name] = await asyncio.to_thread(
                                self.digests.advance, found.path
                            )
                            behind = behind or read[found.name] - was >= BLOCK
            if not behind:
                await asyncio.sleep(every)

    async def _write_behind(self, every: float = WRITEBACK_SECONDS) -> None:
        """Writes back each file of the run as it grows; looks again at once while one is a
        chunk or more behind, else after `every`."""
        try:
            while True:
                files = await asyncio.to_thread(self.downloads.store.files, self.run_id)
                paths = [f.path for f in files]
                if not await asyncio.to_thread(self.writeback.sweep, paths):
                    await asyncio.sleep(every)
        finally:
            self.writeback.close()

    def offer(self) -> str | None:
        """The link to the file being written, once its announced total is past the upload
        limit (so it will be a link in the end anyway) and it is the run's only file; None
        while that is not so."""
        if self.link is not None or self.stopped is not None or self.downloads.base_url is None:
            return self.early_url
        total = self.last.total if self.last is not None else None
        if total is None or (self.upload_limit is not None and total <= self.upload_limit):
            return None
        files = self.downloads.store.files(self.run_id)
        if len(files) != 1:
            return None
        self.link = self._issue()
        self.downloads.ledger.grows(self.run_id, files[0].name, total)
        self.early_url = self.downloads.url(self.link.token, files[0].name)
        self.offered.set()
        return self.early_url

    def offer_text(self) -> str:
        """What the reply says of the link offered while the program writes."""
        if self.early_url is None:
            return ""
        return (
            f"fetch it now: {self.early_url}\nfor {self.person} only; it follows the "
            "download as it arrives, and its last bytes come once the file is complete "
            "and checked"
        )

    def deliver(
        self,
        succeeded: bool,
        declared: Mapping[str, str],
        upload_limit: int | None,
        in_reply_to: str | None,
        why: str | None = None,
    ) -> Delivery:
        """What the run's end becomes: the files uploaded or linked, or why not (and then
        they are removed)."""
        if self.stopped is not None:
            return self._failed(self.stopped, "quota")
        if not succeeded:
            return self._failed(f"the download failed ({why or 'see its output'})", "failed")
        files = self.downloads.store.files(self.run_id)
        if not files:
            return self._failed("the program finished but wrote no file", "empty")
        try:
            wrong = mismatches(
                files, {**self.reported, **self.declared, **declared}, self.digests.of
            )
        finally:
            self.digests.close()  # files read while written and then removed
        if wrong:
            return self._failed(
                "checksum mismatch, nothing delivered:\n" + "\n".join(wrong), "checksum"
            )
        total = sum(f.size for f in files)
        self.downloads.ledger.ended(self.run_id, DONE)
        names = tuple(f.name for f in files)
        size = progress.size(total)
        fits = upload_limit is not None and files[0].size <= upload_limit
        if len(files) == 1 and self.room and (fits or self.downloads.base_url is None):
            if not fits and upload_limit is not None:
                return self._failed(
                    f"{names[0]} ({size}) is over the homeserver's upload "
                    "limit, and without an [http] listener there is no link to "
                    "offer",
                    "undeliverable",
                )
            [one] = files
            kind = mimetypes.guess_type(one.name)[0] or "application/octet-stream"
            upload = Upload(
                self.room,
                one.name.rsplit("/", 1)[-1],
                kind,
                path=str(one.path),
                in_reply_to=in_reply_to,
                caption=f"{one.name} ({size})",
            )
            return Delivery(
                True, f"downloaded {one.name} ({size}), attached below", (upload,), files=names
            )
        if self.downloads.base_url is None:
            return self._failed(
                f"{len(files)} files ({size}) cannot be uploaded as one, and "
                "without an [http] listener there is no link to offer",
                "undeliverable",
            )
        settings = self.downloads.settings
        link = self.link or self._issue()
        url = self.downloads.url(link.token, names[0] if len(files) == 1 else None)
        until = time.strftime("%H:%M UTC", time.gmtime(link.expires))
        use = "one use" if settings.single_use else "any number of uses; resumable (curl -C -)"
        what = names[0] if len(files) == 1 else f"{len(files)} files"
        return Delivery(
            True,
            f"downloaded {what} ({size}): {url}\nfor {self.person} only, until {until}, {use}",
            files=names,
        )

    def _issue(self) -> Link:
        settings = self.downloads.settings
        return self.downloads.ledger.issue(
            self.run_id, self.person, settings.link_expiry_minutes * 60, settings.single_use
        )

    def _failed(self, text: str, code: str) -> Delivery:
        self.downloads.store.remove(self.run_id)
        self.downloads.ledger.ended(self.run_id, FAILED)
        return Delivery(False, text, error=code)

    def _quota(self) -> str:
        return progress.size(self.downloads.store.quota)
