"""The listener's part of a feature's page (a GET): how often a client may ask, and turning
what the page answers into HTTP.

A page decides who may read it (a download link's token, a scrape token); the listener limits
the rate per client address and streams files with aiohttp's `FileResponse`, which answers
HTTP Range requests (a resumed download) and sends from the file as it goes, so memory stays
flat whatever the size. A file still being written, or one a link may serve once, is sent by
sending.py instead: it follows the file as it grows, and spends the link at its first byte.
A HEAD reaches the page as one (`Fetch.method`), so that it claims and spends nothing.
"""

from aiohttp import web

from bot.engine.http import Fetch, Page, Served
from bot.engine.requests import Requests
from bot.transport.http.refusals import Refusals
from bot.transport.http.sending import send
from bot.transport.ratelimit import Limits


class FeaturePage:
    def __init__(self, page: Page, services: Requests, refusals: Refusals, limits: Limits) -> None:
        self.page = page
        self.services = services
        self.refusals = refusals
        self.limit = limits.new(page.per_minute, burst=page.per_minute)

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(self.page.path, self.receive)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        peer = str(request.remote)
        wait = self.limit.take(peer)
        if wait:
            return self.refusals.too_many(wait, self.page.path)
        fetch = Fetch(
            params=dict(request.match_info),
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            peer=peer,
            method=request.method,
        )
        served = await self.page.handler(self.services, fetch)
        ours = served.growing is not None or served.spend is not None
        try:
            if served.file is not None and ours:
                return await send(request, served, _headers(served))
            return response(served)
        finally:
            served.done()


def _headers(served: Served) -> dict[str, str]:
    headers = dict(served.headers)
    if served.filename is not None:
        safe = served.filename.replace('"', "").replace("\\", "")
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    if served.file is not None:
        headers.setdefault("Content-Type", served.content_type)
    return headers


def response(served: Served) -> web.StreamResponse:
    headers = _headers(served)
    if served.file is not None:
        return web.FileResponse(served.file, status=served.status, headers=headers)
    return web.Response(
        status=served.status,
        text=served.text,
        headers=headers,
        content_type=served.content_type.split(";")[0],
        charset="utf-8" if "charset" in served.content_type else None,
    )
