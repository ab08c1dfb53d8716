"""Sending a file that is still being written (`Served.growing`): a download link fetched
while the program fetches, so the person gets the bytes at the program's pace.

The response announces the file's final size (`Content-Length`, or `Content-Range` for a
resumed fetch), then sends each stretch the page says is ready with `sendfile`, as
aiohttp's `FileResponse` does for a finished file: the bytes go from the page cache to the
socket, never through the process, so memory stays flat. When the page says the file will not
be complete, the connection is closed before the announced length: the client sees a
truncated transfer, never a short file it could take as whole.
"""

import asyncio
import logging
import re
from typing import Literal

from aiohttp import web

from bot.engine.feature import Served
from bot.logs import fact

log = logging.getLogger("opsbot.http")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def span(header: str | None, size: int) -> tuple[int, int] | Literal[False] | None:
    """The bytes asked for, first and last (inclusive): the whole file without a Range (or
    with one this does not read, like several ranges, as RFC 9110 allows); False when the
    range lies past the end."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or not (match[1] or match[2]):
        return None
    if not match[1]:  # the last N bytes
        count = int(match[2])
        return (max(0, size - count), size - 1) if count else False
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or first > last:
        return False
    return first, last


async def follow(
    request: web.Request, served: Served, headers: dict[str, str]
) -> web.StreamResponse:
    growing = served.growing
    assert growing is not None and served.file is not None
    size = growing.size
    try:
        asked = span(request.headers.get("Range"), size)
        if asked is False:
            headers = {**headers, "Content-Range": f"bytes */{size}"}
            return web.Response(status=416, headers=headers)
        first, last = asked if asked is not None else (0, size - 1)
        headers = {**headers, "Accept-Ranges": "bytes"}
        if asked is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        return await _send(request, served, headers, asked, first, last)
    finally:
        growing.done()


async def _send(
    request: web.Request, served: Served, headers: dict[str, str],
    asked: tuple[int, int] | None, first: int, last: int,
) -> web.StreamResponse:  # fmt: skip
    growing = served.growing
    assert growing is not None and served.file is not None
    try:
        source = served.file.open("rb")
    except OSError:
        return web.Response(status=410, text="this download is gone; run it again\n")
    with source:
        response = web.StreamResponse(status=206 if asked else 200, headers=headers)
        response.content_length = last + 1 - first
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        at = first
        while at <= last:
            ready = await growing.ready(at)
            transport = request.transport
            if ready is None or transport is None:
                fact(log, "a followed download was cut short", logging.WARNING, sent=at - first,
                     of=last + 1 - first)  # fmt: skip
                if transport is not None:
                    transport.abort()
                return response
            count = min(ready, last + 1) - at
            await loop.sendfile(transport, source, at, count)
            at += count
        await response.write_eof()
    return response
