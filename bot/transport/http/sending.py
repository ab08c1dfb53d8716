"""Sending a file that aiohttp's `FileResponse` cannot send as a download needs: one still
being written (`Served.growing`), or one whose link is spent by its first byte
(`Served.spend`).

The response announces the file's final size (`Content-Length`, or `Content-Range` for a
range), then sends each stretch that is ready with `sendfile`, as `FileResponse` does: the
bytes go from the page cache to the socket, never through the process, so memory stays flat.
When the page says a growing file will not be complete, the connection is closed before the
announced length: the client sees a truncated transfer, never a short file it could take as
whole.

A link is spent here, at the one point where the answer is known to carry the file's bytes:
after the range is found satisfiable, before the headers go out. Whatever the Range, the first
GET that gets this far spends it, and two racing for it cannot both pass (the ledger's spend is
one atomic insert). A HEAD gets the same headers and no body, and spends nothing.
"""

import asyncio
import logging
import os
import re
from typing import BinaryIO, Literal

from aiohttp import web

from bot.core.logs import fact
from bot.engine.http import Served

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


async def send(request: web.Request, served: Served, headers: dict[str, str]) -> web.StreamResponse:
    assert served.file is not None
    try:
        source = served.file.open("rb")
    except OSError:
        return web.Response(status=410, text="this download is gone; run it again\n")
    with source:
        growing = served.growing
        size = growing.size if growing is not None else os.fstat(source.fileno()).st_size
        asked = span(request.headers.get("Range"), size)
        if asked is False:
            headers = {**headers, "Content-Range": f"bytes */{size}"}
            return web.Response(status=416, headers=headers)
        first, last = asked if asked is not None else (0, size - 1)
        headers = {**headers, "Accept-Ranges": "bytes"}
        if asked is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response = web.StreamResponse(status=206 if asked else 200, headers=headers)
        response.content_length = last + 1 - first
        if request.method == "HEAD":
            await response.prepare(request)  # the headers, and not a byte of the file
            return response
        refused = served.spend() if served.spend is not None else None
        if refused is not None:
            return web.Response(status=410, text=refused, headers=served.headers)
        await response.prepare(request)
        await _body(request, response, served, source, first, last)
    return response


async def _body(
    request: web.Request,
    response: web.StreamResponse,
    served: Served,
    source: BinaryIO,
    first: int,
    last: int,
) -> None:
    loop = asyncio.get_running_loop()
    growing = served.growing
    at = first
    while at <= last:
        ready = await growing.ready(at) if growing is not None else last + 1
        transport = request.transport
        if ready is None or transport is None:
            sent, of = at - first, last + 1 - first
            fact(log, "a download was cut short", logging.WARNING, sent=sent, of=of)
            if transport is not None:
                transport.abort()
            return
        count = min(ready, last + 1) - at
        await loop.sendfile(transport, source, at, count)
        at += count
    await response.write_eof()
