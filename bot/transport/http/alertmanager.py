"""`POST /alertmanager`: Prometheus Alertmanager's webhook (payload version 4).

Alertmanager groups alerts (`group_by` in its route) and sends one request per group whenever
the group changes; each request becomes one notice in `[alerts] room` (else the announcement
rooms): the group's labels, and each alert's status, labels and summary. The alerts that a rule
of the state repo's `alerts/rules.toml` matches are an incident: the first time, the internal
command `incident alert` opens one for the group (keyed by Alertmanager's `groupKey`); later
requests add what is new (an alert firing, an alert resolved) to that incident's timeline. Each
is one commit with the usual `Incident:` and `Severity:` trailers.

Alertmanager must send the token of `[alerts] token_file` as a bearer token (`http_config:
{authorization: {credentials_file: ...}}` in its webhook config); the route is not served
without one unless the host config says `unauthenticated = true` and listens on loopback only.
Requests are limited per client address (`[alerts] requests_per_minute`): Alertmanager batches
alerts into one request per group, so a burst of requests is a flood, not an outage. Requests
with a missing or wrong token have a budget of their own, so that a flood of them from the
address the real Alertmanager shares (a proxy, a NAT) does not use up its budget.
"""

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.engine.dispatch import Engine
from bot.engine.types import Invocation, Reply
from bot.logs import fact
from bot.state.incidents import ALERT_STATES, Alert
from bot.transport.http.auth import matches, presented
from bot.transport.http.body import NotJson, TooLarge, parse_json, read_body
from bot.transport.http.notices import Notices
from bot.transport.http.refusals import Refusals
from bot.transport.ratelimit import RateLimit

log = logging.getLogger("opsbot.alerts")

SOURCE = "alertmanager"
COMMAND = "incident alert"
_FINGERPRINT = re.compile(r"^[0-9a-fA-F]{1,64}$")
_TIMESTAMP = re.compile(r"^\S{1,64}$")
SUMMARY_KEYS = ("summary", "description", "message")


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Notification:
    """One webhook request: one alert group, as Alertmanager groups them."""

    group_key: str
    status: str
    group_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    alerts: tuple[Alert, ...]
    truncated: int = 0

    @property
    def title(self) -> str:
        """The incident's title: the group's summary, or else its labels."""
        summary = next((self.common_annotations[k] for k in SUMMARY_KEYS
                        if self.common_annotations.get(k)), None)  # fmt: skip
        if summary:
            return summary
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.group_labels.items()))
        return labels or (self.alerts[0].describe() if self.alerts else "alerts")


def parse(payload: Any) -> Notification:
    if not isinstance(payload, dict):
        raise Malformed("not a JSON object")
    if payload.get("version", "4") != "4":
        raise Malformed(f"payload version {payload.get('version')!r}; version 4 is understood")
    group_key = payload.get("groupKey")
    if not isinstance(group_key, str) or not group_key.strip():
        raise Malformed("no groupKey")
    status = payload.get("status")
    if status not in ALERT_STATES:
        raise Malformed(f"status {status!r} is not firing or resolved")
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        raise Malformed("alerts is not a list")
    truncated = payload.get("truncatedAlerts", 0)
    return Notification(
        group_key=group_key,
        status=status,
        group_labels=_labels(payload.get("groupLabels", {}), "groupLabels"),
        common_annotations=_labels(payload.get("commonAnnotations", {}), "commonAnnotations"),
        alerts=tuple(_alert(a, n) for n, a in enumerate(raw_alerts)),
        truncated=truncated if isinstance(truncated, int) and truncated > 0 else 0,
    )


def _labels(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise Malformed(f"{what} is not a table of strings")
    return value


def _alert(value: Any, number: int) -> Alert:
    where = f"alerts[{number}]"
    if not isinstance(value, dict):
        raise Malformed(f"{where} is not an object")
    status = value.get("status")
    if status not in ALERT_STATES:
        raise Malformed(f"{where}.status {status!r} is not firing or resolved")
    fingerprint, starts_at = value.get("fingerprint"), value.get("startsAt")
    # Both go into the timeline as one word each: see bot.state.incidents.alerts_noted.
    if not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint):
        raise Malformed(f"{where}.fingerprint is not a hex string")
    if not isinstance(starts_at, str) or not _TIMESTAMP.match(starts_at):
        raise Malformed(f"{where}.startsAt is not a timestamp")
    annotations = _labels(value.get("annotations", {}), f"{where}.annotations")
    return Alert(
        status=status,
        labels=_labels(value.get("labels", {}), f"{where}.labels"),
        fingerprint=fingerprint.lower(),
        starts_at=starts_at,
        summary=next((annotations[k] for k in SUMMARY_KEYS if annotations.get(k)), ""),
    )


def notice(notification: Notification, reply: Reply) -> str:
    """`[FIRING:2] alertname=DiskFull`, a line per alert, and what became of the incident."""
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    count = f":{firing}" if notification.status == "firing" else ""
    labels = ", ".join(f"{k}={v}" for k, v in sorted(notification.group_labels.items()))
    lines = [f"[{notification.status.upper()}{count}] {labels}".rstrip()]
    lines += [f"- {a.status}: {a.describe()}" for a in notification.alerts]
    if notification.truncated:
        lines.append(f"(and {notification.truncated} more that Alertmanager left out)")
    outcome = incident_line(reply)
    if outcome:
        lines.append(outcome)
    return "\n".join(lines)


def incident_line(reply: Reply) -> str | None:
    if not reply.ok:
        return f"not recorded as an incident: {reply.text}"
    facts = reply.extra
    incident = facts.get("incident")
    if incident is None:
        return None
    if facts.get("opened"):
        return f"{incident} ({facts.get('severity')}) opened for these alerts"
    if facts.get("all_resolved"):
        return (
            f"every alert of {incident} is resolved; !incident resolve {incident} once it is over"
        )
    if facts.get("noted"):
        return f"noted in the timeline of {incident}"
    return f"already in the timeline of {incident}"


class AlertmanagerWebhook:
    def __init__(
        self,
        engine: Engine,
        notices: Notices,
        refusals: Refusals,
        *,
        room: str | None,
        token: bytes | None,
        max_body: int,
        per_minute: int,
        on_commit: Callable[[str], None] | None = None,
    ) -> None:
        """`token` None serves anyone: the host config allows it on loopback only."""
        self.engine = engine
        self.notices = notices
        self.refusals = refusals
        self.room = room
        self.token = token
        self.max_body = max_body
        self.on_commit = on_commit
        self.limit = RateLimit(per_minute)
        self.failures = RateLimit(per_minute)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/alertmanager", self.receive)

    async def receive(self, request: web.Request) -> web.Response:
        peer = str(request.remote)
        if self.token is not None and not matches(presented(request), self.token):
            wait = self.failures.take(peer)
            if wait:
                return self.refusals.too_many(wait, SOURCE, "too many requests without the token")
            return self.refusals.refuse(401, "missing or wrong token", SOURCE, peer=peer)
        wait = self.limit.take(peer)
        if wait:
            return self.refusals.too_many(wait, SOURCE)
        try:
            body = await read_body(request, self.max_body)
        except TooLarge:
            return self.refusals.refuse(413, f"body over {self.max_body} bytes", SOURCE)
        try:
            payload = parse_json(body)
        except NotJson as e:
            return self.refusals.refuse(400, str(e), SOURCE)
        try:
            notification = parse(payload)
        except Malformed as e:
            return self.refusals.refuse(400, "not an Alertmanager v4 payload", SOURCE,
                                        problem=str(e)[:200])  # fmt: skip
        invocation = Invocation(
            sender=self.engine.repo.committer.user_id,
            sender_name="Alertmanager",
            text=f"(alerts of group {notification.group_key})",
            event_id=f"{SOURCE}:{uuid.uuid4().hex}",
            received_at=datetime.now(UTC),
            room_id=self.room,
            transport=SOURCE,
        )
        args = {
            "group": notification.group_key,
            "title": notification.title,
            "alerts": notification.alerts,
        }
        reply = await asyncio.to_thread(self.engine.run_internal, COMMAND, args, invocation)
        if reply.commit is not None and self.on_commit is not None:
            self.on_commit(reply.commit)
        fact(
            log, "alerts", group=notification.group_key, status=notification.status,
            alerts=len(notification.alerts), incident=reply.extra.get("incident"),
            commit=reply.commit, error=reply.error,
        )  # fmt: skip
        try:
            await self.notices.send(notice(notification, reply), self.room)
            await self.notices.effects(reply.effects, invocation.event_id, self.room)
        except Exception as e:  # the homeserver is away, the bot is not in the room yet, ...
            # Alertmanager retries; the incident is not written twice (see `incident alert`).
            return self.refusals.refuse(503, "could not post; retry", SOURCE,
                                        error=f"{type(e).__name__}: {e}")  # fmt: skip
        return web.json_response(
            {"ok": True, "incident": reply.extra.get("incident"), "commit": reply.commit}
        )
