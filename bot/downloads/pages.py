"""`GET /downloads/<token>/` and `GET /downloads/<token>/<file>`: a run's files, to the person
its link was given to (bot/downloads/links.py says who a link admits).

A file is looked up among the files the run wrote, by name, never joined onto a path from the
URL. It is always sent as an attachment of type application/octet-stream, never rendered, so a
file a program fetched cannot run script on the listener's origin; nothing is cached and no
Referer carries the link elsewhere.
"""

import html
import logging
import re
from collections.abc import Mapping

from bot.downloads.host import Downloads
from bot.downloads.links import Refused
from bot.engine.feature import Fetch, Page, Requests, Served
from bot.logs import fact

log = logging.getLogger("opsbot.downloads")

PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _downloads(requests: Requests) -> Downloads | None:
    config = requests.host_config()
    return Downloads.of(config) if config is not None else None


def _refused(refusal: Refused) -> Served:
    return Served(status=refusal.status, text=refusal.reason + "\n", headers=dict(PRIVATE))


async def file(requests: Requests, fetch: Fetch) -> Served:
    downloads = _downloads(requests)
    if downloads is None:
        return Served(status=404, text="no downloads here\n")
    try:
        return _file(downloads, fetch)
    finally:
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
