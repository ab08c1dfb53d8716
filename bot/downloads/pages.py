"""`GET /downloads/<token>/` and `GET /downloads/<token>/<file>`: a run's files, to the person
its link was given to (bot/downloads/links.py says who a link admits).

A file is looked up among the files the run wrote, by name, never joined onto a path from the
URL. It is always sent as an attachment of type application/octet-stream, never rendered, so a
file a program fetched cannot run script on the listener's origin; nothing is cached and no
Referer carries the link elsewhere.
"""

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from bot.downloads.host import Downloads
from bot.downloads.links import DONE, RUNNING, Refused
from bot.engine.feature import Fetch, Growing, Page, Requests, Served
from bot.logs import fact

log = logging.getLogger("opsbot.downloads")

PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
FOLLOW_POLL = 0.01  # seconds between looks at a file being written, once caught up with it
HELD = 1024 * 1024  # bytes of a file being written held back until its run is checked


def _downloads(requests: Requests) -> Downloads | None:
    config = requests.host_config()
    return Downloads.of(config) if config is not None else None


def _refused(refusal: Refused) -> Served:
    return Served(status=refusal.status, text=refusal.reason + "\n", headers=dict(PRIVATE))


async def file(requests: Requests, fetch: Fetch) -> Served:
    downloads = _downloads(requests)
    if downloads is None:
        return Served(status=404, text="no downloads here\n")
    served = None
    try:
        served = _file(downloads, fetch)
        return served
    finally:
        if served is None or served.growing is None:  # a followed file closes it when done
            downloads.close()


def _file(downloads: Downloads, fetch: Fetch) -> Served:
    token, name = fetch.params["token"], fetch.params.get("name", "")
    verdict = downloads.ledger.admit(token, name, fetch.peer, resume=_resumes(fetch))
    if isinstance(verdict, Refused):
        fact(log, "download refused", logging.WARNING, status=verdict.status, peer=fetch.peer,
             reason=verdict.reason)  # fmt: skip
        return _refused(verdict)
    files = {f.name: f for f in downloads.store.files(verdict.run_id)}
    if not name:
        return _index(token, files)
    if downloads.ledger.status(verdict.run_id) == RUNNING:
        return _growing(downloads, fetch, verdict.run_id, token, name, verdict.single_use)
    found = files.get(name)
    if found is None:
        return _refused(Refused(404, f"this download has no file {name!r}"))
    if verdict.single_use and _reaches_end(fetch, found.size):
        downloads.ledger.spend(token, name)
    fact(log, "download served", run=verdict.run_id, person=verdict.person, file=name,
         size=found.size, peer=fetch.peer, range=fetch.headers.get("range"))  # fmt: skip
    return Served(
        file=found.path, filename=name.rsplit("/", 1)[-1],
        content_type="application/octet-stream", headers=dict(PRIVATE),
    )  # fmt: skip


def _growing(
    downloads: Downloads, fetch: Fetch, run_id: str, token: str, name: str, single_use: bool
) -> Served:
    """The file the run is writing, followed as it grows (only the one its link offered)."""
    offered = downloads.ledger.growing(run_id)
    if offered is None or offered[0] != name:
        return _refused(Refused(409, "this download is still running; its link works for "
                                f"{name!r} once it has finished"))  # fmt: skip
    total = offered[1]
    if single_use and _reaches_end(fetch, total):
        downloads.ledger.spend(token, name)
    fact(log, "download followed", run=run_id, file=name, size=total, peer=fetch.peer,
         range=fetch.headers.get("range"))  # fmt: skip
    path = downloads.store.run_dir(run_id) / name  # a name the run's own listing gave
    return Served(
        file=path, filename=name.rsplit("/", 1)[-1], content_type="application/octet-stream",
        headers=dict(PRIVATE),
        growing=Growing(total, _follower(downloads, run_id, path, total), downloads.close),
    )  # fmt: skip


def _follower(
    downloads: Downloads, run_id: str, path: Path, total: int
) -> Callable[[int], Awaitable[int | None]]:
    async def ready(sent: int) -> int | None:
        """How much of the file may go out: what the program wrote, less the last `HELD`
        bytes while it runs; all of it once the run ended with its checks passed; None when
        it failed, or the file is not the size it announced."""
        while True:
            status = downloads.ledger.status(run_id)
            try:
                written = path.stat().st_size
            except OSError:
                return None  # removed: the run failed
            if status == DONE:
                return total if written == total else None
            if status != RUNNING or written > total:
                return None
            if min(written, total - HELD) > sent:
                return min(written, total - HELD)
            await asyncio.sleep(FOLLOW_POLL)

    return ready


def _index(token: str, files: Mapping[str, object]) -> Served:
    items = "".join(
        f'<li><a href="{html.escape(name, quote=True)}">{html.escape(name)}</a></li>'
        for name in files
    )
    body = f"<!doctype html><title>download</title><ul>{items}</ul>"
    headers = {**PRIVATE, "Content-Security-Policy": "default-src 'none'"}
    return Served(text=body, content_type="text/html; charset=utf-8", headers=headers)


def _resumes(fetch: Fetch) -> bool:
    """A request for the rest of a file (curl -C -, a browser's resume), not the whole."""
    match = _RANGE.fullmatch(fetch.headers.get("range", "").strip())
    return match is not None and int(match[1]) > 0


def _reaches_end(fetch: Fetch, size: int) -> bool:
    """Whether this response sends the file's last byte (which spends a single-use link)."""
    match = _RANGE.fullmatch(fetch.headers.get("range", "").strip())
    return match is None or not match[2] or int(match[2]) >= size - 1


PAGES = (
    Page("/downloads/{token}/", file, per_minute=60),
    Page("/downloads/{token}/{name:.+}", file, per_minute=60),
)
