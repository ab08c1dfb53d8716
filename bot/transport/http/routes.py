"""The listener's part of a feature's route: who may call it, how often, and a body it can read.

A feature declares `Route(path, section, handler)` (bot/engine/feature.py); the host config's
section it names guards it. A request must carry the section's token as a bearer token
(compared in constant time), is limited per client address, has a bounded body, and must be
JSON of bounded nesting; only then does the feature's handler see it. Requests with a missing or
wrong token have a budget of their own, so that a flood of them from the address the real
sender shares (a proxy, a NAT) does not use up its budget.
"""

from dataclasses import dataclass

from aiohttp import web

from bot.engine.http import Route
from bot.engine.requests import Requests
from bot.transport.http.auth import matches, presented
from bot.transport.http.body import NotJson, TooLarge, parse_json, read_body
from bot.transport.http.refusals import Refusals
from bot.transport.ratelimit import Limits


@dataclass(frozen=True)
class Guard:
    """What the host config says of a route: `token` None serves anyone (the config allows it
    on loopback only), `room` is where its notices go (None: the announcement rooms)."""

    token: bytes | None
    room: str | None
    per_minute: int
    max_body: int


class FeatureRoute:
    def __init__(
        self, route: Route, guard: Guard, services: Requests, refusals: Refusals, limits: Limits
    ) -> None:
        self.route = route
        self.guard = guard
        self.services = services
        self.refusals = refusals
        self.limit = limits.new(guard.per_minute)
        self.failures = limits.new(guard.per_minute)

    def add_to(self, app: web.Application) -> None:
        app.router.add_post(self.route.path, self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        source, guard, peer = self.route.section.name, self.guard, str(request.remote)
        if guard.token is not None and not matches(presented(request), guard.token):
            wait = self.failures.take(peer)
            if wait:
                return self.refusals.too_many(wait, source, "too many requests without the token")
            return self.refusals.refuse(401, "missing or wrong token", source, peer=peer)
        wait = self.limit.take(peer)
        if wait:
            return self.refusals.too_many(wait, source)
        try:
            body = await read_body(request, guard.max_body)
        except TooLarge:
            return self.refusals.refuse(413, f"body over {guard.max_body} bytes", source)
        try:
            payload = parse_json(body)
        except NotJson as e:
            return self.refusals.refuse(400, str(e), source)
        result = await self.route.handler(self.services, payload, guard.room)
        if result.status >= 400:
            details = {k: v for k, v in result.body.items() if k not in ("ok", "error")}
            return self.refusals.refuse(
                result.status, str(result.body.get("error")), source, **details
            )
        return web.json_response(result.body, status=result.status)
