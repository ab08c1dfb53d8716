"""`POST /webhooks/<source>`: JSON from CI and other tools, posted as a notice to a room.

Each source has its own secret (`[webhooks.<source>] secret_file`), and every request carries
`X-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body with that secret (Flux's generic
webhook shape; GitHub's `X-Hub-Signature-256` is the same and is accepted too). In order, a
request is refused with: 404 for a source the host config does not name, 429 past the rate
limit (per source and client address), 413 for a body over `[http] max_body_bytes`, 401 for a
missing or wrong signature, 400 for a body that is not JSON. A delivery id (`X-Delivery`, or
`X-GitHub-Delivery`) seen before is answered 200 and not posted again.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.logs import fact
from bot.transport.http.body import TooLarge, read_body
from bot.transport.http.deliveries import Deliveries
from bot.transport.http.notices import Notices
from bot.transport.http.refusals import Refusals
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.http")

SIGNATURES = ("X-Signature", "X-Hub-Signature-256")
DELIVERY_IDS = ("X-Delivery", "X-GitHub-Delivery")
MAX_DELIVERY_ID = 200
# What a tool's JSON usually calls the sentence for people, in order of preference.
TEXT_KEYS = ("text", "message", "summary", "title", "description")
FACT_KEYS = ("status", "severity", "reason", "event")


@dataclass(frozen=True)
class Hook:
    source: str
    secret: bytes
    room: str | None


class Webhooks:
    def __init__(
        self,
        hooks: Mapping[str, Hook],
        notices: Notices,
        deliveries: Deliveries,
        refusals: Refusals,
        *,
        max_body: int,
        per_minute: int,
    ) -> None:
        self.hooks = hooks
        self.notices = notices
        self.deliveries = deliveries
        self.refusals = refusals
        self.max_body = max_body
        self.limit = RateLimit(per_minute)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/{source}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        source = request.match_info["source"]
        hook = self.hooks.get(source)
        if hook is None:
            # Keyed on the kind alone: the names come from whoever sends the request.
            return self.refusals.refuse(404, "unknown webhook source", "*", first=source[:64])
        wait = self.limit.take(f"{source} {request.remote}")
        if wait:
            return self.refusals.refuse(
                429, "too many requests", source, headers={"Retry-After": str(math.ceil(wait))}
            )
        try:
            body = await read_body(request, self.max_body)
        except TooLarge:
            return self.refusals.refuse(413, f"body over {self.max_body} bytes", source)
        problem = signature_problem(hook.secret, body, request.headers)
        if problem is not None:
            return self.refusals.refuse(401, problem, source, peer=request.remote)
        try:
            payload = json.loads(body)
        except ValueError:  # UnicodeDecodeError is one
            return self.refusals.refuse(400, "body is not JSON", source)
        delivery = next((request.headers[h] for h in DELIVERY_IDS if h in request.headers), None)
        if delivery is not None and (
            not delivery.isprintable() or not 0 < len(delivery) <= MAX_DELIVERY_ID
        ):
            return self.refusals.refuse(400, "delivery id is not a short printable string", source)
        if delivery is not None and not await asyncio.to_thread(
            self.deliveries.claim, source, delivery
        ):
            fact(log, "webhook delivered again; ignored", source=source, delivery=delivery)
            return web.json_response({"ok": True, "duplicate": True}, status=200)
        try:
            await self.notices.send(describe(source, payload), hook.room)
        except Exception as e:  # the homeserver is away, the bot is not in the room yet, ...
            if delivery is not None:
                await asyncio.to_thread(self.deliveries.release, source, delivery)
            return self.refusals.refuse(503, "could not post; retry", source,
                                        error=f"{type(e).__name__}: {e}")  # fmt: skip
        fact(log, "webhook", source=source, delivery=delivery, room=hook.room, bytes=len(body))
        return web.json_response({"ok": True}, status=202)


def signature_problem(secret: bytes, body: bytes, headers: Mapping[str, str]) -> str | None:
    """None when the body is signed with `secret`; else what is wrong, for the refusal."""
    given = next((headers[h] for h in SIGNATURES if h in headers), None)
    if given is None:
        return "missing signature"
    algorithm, _, digest = given.strip().partition("=")
    if algorithm.lower() != "sha256":
        return "signature is not sha256=<hex>"
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        return "bad signature"
    return None


def describe(source: str, payload: Any) -> str:
    """One notice for a webhook: the tool's own sentence when it has one, and a few facts."""
    text: str | None = None
    facts: list[str] = []
    if isinstance(payload, dict):
        text = next((payload[k] for k in TEXT_KEYS if isinstance(payload.get(k), str)), None)
        facts = [f"{k}: {payload[k]}" for k in FACT_KEYS if isinstance(payload.get(k), str)]
        thing = payload.get("involvedObject")  # Flux: the object the event is about
        if isinstance(thing, dict) and all(isinstance(thing.get(k), str) for k in ("kind", "name")):
            where = f"{thing['namespace']}/" if isinstance(thing.get("namespace"), str) else ""
            facts.insert(0, f"{thing['kind']} {where}{thing['name']}")
    if text is None:
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        facts = []
    return f"{source}: {text}" + (f" ({'; '.join(facts)})" if facts else "")
