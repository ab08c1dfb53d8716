"""`GET /downloads/<token>/` and `GET /downloads/<token>/<file>`: a run's files, to the person
its link was given to (bot/features/downloads/links.py says who a link admits).

A file is looked up among the files the run wrote, by name, never joined onto a path from the
URL. It is always sent as an attachment of type application/octet-stream, never rendered, so a
file a program fetched cannot run script on the listener's origin; nothing is cached and no
Referer carries the link elsewhere.

A single-use link is not spent here but handed to the listener (`Served.spend`), which spends
it as the file's first byte is about to go: a page cannot know whether its answer will carry
the file (a Range past the end does not, a HEAD does not). A HEAD is answered like a GET, and
neither claims nor spends the link.
"""

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path

from bot.core.logs import fact
from bot.engine.http import Fetch, Growing, Page, Served
from bot.engine.requests import Requests
from bot.features.downloads.host import Downloads
from bot.features.downloads.links import DONE, RUNNING, Denied, LinkBook

log = logging.getLogger("opsbot.downloads")

PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
FOLLOW_POLL = 0.01  # seconds between looks at a file being written, once caught up with it
HELD = 1024 * 1024  # bytes of a file being written held back until its run is checked


def _downloads(requests: Requests) -> Downloads | None:
    config = requests.host_config()
    return Downloads.of(config) if config is not None else None


def _refused(refusal: Denied) -> Served:
    return Served(status=refusal.status, text=refusal.reason + "\n", headers=dict(PRIVATE))


async def file(requests: Requests, fetch: Fetch) -> Served:
    downloads = _downloads(requests)
    if downloads is None:
        return Served(status=404, text="no downloads here\n")
    try:
        served = _file(downloads, fetch)
    except BaseException:
        downloads.close()
        raise
    # The ledger stays open until the response is over: the listener spends the link on it.
    return replace(served, done=downloads.close)


def _file(downloads: Downloads, fetch: Fetch) -> Served:
    token, name = fetch.params["token"], fetch.params.get("name", "")
    look = fetch.method == "HEAD"
    verdict = downloads.ledger.admit(token, name, fetch.peer, claim=not look)
    if isinstance(verdict, Denied):
        fact(
            log,
            "download refused",
            logging.WARNING,
            status=verdict.status,
            peer=fetch.peer,
            reason=verdict.reason,
        )
        return _refused(verdict)
    files = {f.name: f for f in downloads.store.files(verdict.run_id)}
    if not name:
        return _index(token, files)
    spend = _spender(downloads.ledger, token, name, fetch.peer) if verdict.single_use else None
    if downloads.ledger.status(verdict.run_id) == RUNNING:
        return _growing(downloads, fetch, verdict.run_id, name, spend)
    found = files.get(name)
    if found is None:
        return _refused(Denied(404, f"this download has no file {name!r}"))
    fact(
        log,
        "download served",
        run=verdict.run_id,
        person=verdict.person,
        file=name,
        size=found.size,
        peer=fetch.peer,
        range=fetch.headers.get("range"),
        method=fetch.method,
    )
    return Served(
        file=found.path,
        filename=name.rsplit("/", 1)[-1],
        content_type="application/octet-stream",
        headers=dict(PRIVATE),
        spend=spend,
    )


def _spender(ledger: LinkBook, token: str, name: str, peer: str) -> Callable[[], str | None]:
    def spend() -> str | None:
        refused = ledger.spend(token, name)
        if refused is None:
            return None
        why = refused.reason
        fact(log, "download refused", logging.WARNING, status=refused.status, peer=peer, reason=why)
        return why + "\n"

    return spend


def _growing(
    downloads: Downloads,
    fetch: Fetch,
    run_id: str,
    name: str,
    spend: Callable[[], str | None] | None,
) -> Served:
    """The file the run is writing, followed as it grows (only the one its link offered)."""
    offered = downloads.ledger.growing(run_id)
    if offered is None or offered[0] != name:
        return _refused(
            Denied(
                409,
                f"this download is still running; its link works for {name!r} once it has finished",
            )
        )
    total = offered[1]
    fact(
        log,
        "download followed",
        run=run_id,
        file=name,
        size=total,
        peer=fetch.peer,
        range=fetch.headers.get("range"),
    )
    path = downloads.store.run_dir(run_id) / name  # a name the run's own listing gave
    return Served(
        file=path,
        filename=name.rsplit("/", 1)[-1],
        content_type="application/octet-stream",
        headers=dict(PRIVATE),
        growing=Growing(total, _follower(downloads, run_id, path, total)),
        spend=spend,
    )


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


PAGES = (
    Page("/downloads/{token}/", file, per_minute=60),
    Page("/downloads/{token}/{name:.+}", file, per_minute=60),
)
