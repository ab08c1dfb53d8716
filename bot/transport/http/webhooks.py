"""`POST /webhooks/<source>`: JSON from CI and other tools, posted as a notice to a room.

Each source has its own secret (`[webhooks.<source>] secret_file`). Every request carries three
headers:

    X-Timestamp: <unix time in seconds>
    X-Delivery:  <delivery id: 1 to 200 of A-Z a-z 0-9 . _ ->
    X-Signature: sha256=<hex HMAC-SHA256, with the secret, of the bytes below>

    v1:<timestamp>:<delivery id>:<body>

where `<body>` is the raw request body. The timestamp and the delivery id are signed with the
body, so a captured request cannot be posted again under another delivery id, and is refused
once its timestamp is more than 5 minutes old (or more than a minute ahead of this host's
clock); a delivery id seen before is answered 200 and not posted again (remembered for
`deliveries.KEEP_DAYS` days). A sender that retries signs again, with a fresh timestamp and the
same delivery id. In shell:

    ts=$(date +%s); id=$(uuidgen)
    sig=$(printf 'v1:%s:%s:%s' "$ts" "$id" "$body" | openssl dgst -sha256 -hmac "$secret" -r)
    curl -H "X-Timestamp: $ts" -H "X-Delivery: $id" -H "X-Signature: sha256=${sig%% *}" ...

In order, a request is refused with: 404 for a source the host config does not name, 413 for a
body over `[http] max_body_bytes`, 401 for a missing or wrong signature, timestamp or delivery
id, 429 past the rate limit (per source and client address), 400 for a body that is not JSON,
422 for a source that may record things (`records_versions`) when a record it asks for is
refused (a version already recorded from another commit, a time far from this host's clock):
the reason is in the answer, and nothing is posted.
Requests that fail the signature have a rate limit of their own, so that a flood of them from
the address the real sender shares (a proxy, a NAT) does not use up the real sender's budget.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.core.effects import Effect, Notify
from bot.core.logs import fact
from bot.core.text import clip
from bot.engine.http import PayloadReader
from bot.engine.requests import Requests
from bot.transport.http.auth import as_sent
from bot.transport.http.body import NotJson, TooLarge, parse_json, read_body
from bot.transport.http.deliveries import Deliveries
from bot.transport.http.refusals import Refusals
from bot.transport.ratelimit import Limits

log = logging.getLogger("opsbot.http")

SIGNATURE, TIMESTAMP, DELIVERY = "X-Signature", "X-Timestamp", "X-Delivery"
SCHEME = "v1"
MAX_AGE = 300.0  # seconds a signed request stays good
MAX_AHEAD = 60.0  # seconds a sender's clock may be ahead of ours
# No ":" in a delivery id: the signed string could then be split two ways.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._-]{1,200}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
# What a tool's JSON usually calls the sentence for people, in order of preference.
TEXT_KEYS = ("text", "message", "summary", "title", "description")
FACT_KEYS = ("status", "severity", "reason", "event")


@dataclass(frozen=True)
class Hook:
    source: str
    secret: bytes
    room: str | None
    records: bool = False  # may record things (a CI's versions): `readers` read its payloads


Owe = Callable[[Sequence[tuple[str, Effect]]], None]


class Webhooks:
    def __init__(
        self,
        hooks: Mapping[str, Hook],
        owe: Owe,
        deliveries: Deliveries,
        refusals: Refusals,
        *,
        max_body: int,
        per_minute: int,
        limits: Limits,
        services: Requests | None = None,
        readers: Sequence[PayloadReader] = (),
    ) -> None:
        self.hooks = hooks
        self.services = services
        self.readers = readers
        self.owe = owe
        self.deliveries = deliveries
        self.refusals = refusals
        self.max_body = max_body
        self.limit = limits.new(per_minute)
        self.failures = limits.new(per_minute)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/{source}", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        source = request.match_info["source"]
        hook = self.hooks.get(source)
        if hook is None:
            # Keyed on the kind alone: the names come from whoever sends the request.
            return self.refusals.refuse(404, "unknown webhook source", "*", first=source[:64])
        try:
            body = await read_body(request, self.max_body)
        except TooLarge:
            return self.refusals.refuse(413, f"body over {self.max_body} bytes", source)
        budget = f"{source} {request.remote}"
        problem = signature_problem(hook.secret, body, request.headers, time.time())
        if problem is not None:
            wait = self.failures.take(budget)
            if wait:
                return self.refusals.too_many(wait, source, "too many requests not signed")
            return self.refusals.refuse(401, problem, source, peer=request.remote)
        wait = self.limit.take(budget)
        if wait:
            return self.refusals.too_many(wait, source)
        try:
            payload = parse_json(body)
        except NotJson as e:
            return self.refusals.refuse(400, str(e), source)
        # Recorded before the delivery is claimed, so that a refused record refuses the whole
        # delivery (nothing posted, the id still free for a corrected one); recording the same
        # facts again writes nothing, so a copy of an accepted delivery records nothing twice.
        recorded, refused = await self._record(hook, payload)
        if refused:
            return self.refusals.refuse(422, refused, source)
        delivery = request.headers[DELIVERY]  # signed, so present and well formed
        if not await asyncio.to_thread(self.deliveries.claim, source, delivery):
            fact(log, "webhook delivered again; ignored", source=source, delivery=delivery)
            return web.json_response({"ok": True, "duplicate": True}, status=200)
        # Owed, not sent: the outbox keeps it until the homeserver takes it, so a delivery
        # accepted here is never lost, and one id is one notice, however often it comes.
        text = clip(describe(source, payload) + recorded)
        target: dict[str, Any] = {"rooms": (hook.room,)} if hook.room else {"announce": True}
        self.owe([(f"webhook:{source}:{delivery}", Notify(text, **target))])
        fact(log, "webhook", source=source, delivery=delivery, room=hook.room, bytes=len(body))
        return web.json_response({"ok": True}, status=202)

    async def _record(self, hook: Hook, payload: Any) -> tuple[str, str]:
        """What a source that may record things asked to record (a version its CI built),
        run as requests, one commit each: what the notice says of it, and why a record was
        refused ("" when none was)."""
        if not hook.records or self.services is None:
            return "", ""
        said: list[str] = []
        refused: list[str] = []
        for reader in self.readers:
            request = reader(payload)
            if request is not None:
                reply = await self.services.request(request, hook.source, hook.room)
                (said if reply.ok else refused).append(reply.text)
        return "".join(f"\n{line}" for line in said), "; ".join(refused)


def signed_bytes(timestamp: str, delivery: str, body: bytes) -> bytes:
    """What the signature is over: `v1:<timestamp>:<delivery id>:<body>`."""
    return f"{SCHEME}:{timestamp}:{delivery}:".encode() + body


def sign(secret: bytes, timestamp: str, delivery: str, body: bytes) -> str:
    """The `X-Signature` header's value for a request, as a sender computes it."""
    digest = hmac.new(secret, signed_bytes(timestamp, delivery, body), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signature_problem(
    secret: bytes, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    """None when the request is signed with `secret` and fresh; else what is wrong, for the
    refusal."""
    given, timestamp, delivery = (headers.get(h) for h in (SIGNATURE, TIMESTAMP, DELIVERY))
    if given is None:
        return "missing signature"
    algorithm, _, digest = given.strip().partition("=")
    if algorithm.lower() != "sha256":
        return "signature is not sha256=<hex>"
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        return f"missing or malformed {TIMESTAMP} (unix seconds)"
    if delivery is None or not _DELIVERY_ID.fullmatch(delivery):
        return f"missing or malformed {DELIVERY} (1 to 200 of A-Z a-z 0-9 . _ -)"
    expected = sign(secret, timestamp, delivery, body).partition("=")[2].encode()
    if not hmac.compare_digest(expected, as_sent(digest.strip().lower())):
        return "bad signature"
    if not now - MAX_AGE <= int(timestamp) <= now + MAX_AHEAD:
        return "timestamp too old or too far ahead; sign again with the current time"
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
