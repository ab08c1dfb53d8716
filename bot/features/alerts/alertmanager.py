"""Alerts from Prometheus Alertmanager (webhook payload version 4), as a feature.

Alertmanager groups alerts (`group_by` in its route) and sends one request per group whenever
the group changes. Each request becomes one notice in `[alerts] room` (else the announcement
rooms): the group's labels, and each alert's status, labels and summary. The alerts that a rule
of the state repo's `alerts/rules.toml` matches are an incident: the first time, an
`AlertGroup` request opens one for the group (keyed by Alertmanager's `groupKey`); later
requests add what is new (an alert firing, an alert resolved) to that incident's timeline. Each
is one commit.

The route is `POST /alertmanager`, guarded by the host config's `[alerts]` section (its token,
its rate limit, its room): the HTTP listener checks those and parses the JSON, this module
decides. See `bot.transport.http.routes`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.effects import Notify
from bot.core.text import clip
from bot.engine.http import Route, RouteResult
from bot.engine.requests import Requests
from bot.engine.types import Reply
from bot.features.alerts.settings import ALERTS
from bot.features.incidents.alert_rules import ALERT_STATES, Alert
from bot.features.incidents.internal import AlertGroup

SOURCE = "alertmanager"
_FINGERPRINT = re.compile(r"[0-9a-fA-F]{1,64}")
_TIMESTAMP = re.compile(r"\S{1,64}")


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
        summary = next(
            (self.common_annotations[k] for k in SUMMARY_KEYS if self.common_annotations.get(k)),
            None,
        )
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
    # Both go into the timeline as one word each: see bot.features.incidents.records.alerts_noted.
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise Malformed(f"{where}.fingerprint is not a hex string")
    if not isinstance(starts_at, str) or not _TIMESTAMP.fullmatch(starts_at):
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


async def receive(requests: Requests, payload: Any, room: str | None) -> RouteResult:
    """One Alertmanager request: the incident side first, then the notice saying what it did.
    A request the homeserver cannot take yet is not refused: the notice is owed, and sent
    once it can be (Alertmanager would otherwise send it again, and again)."""
    try:
        notification = parse(payload)
    except Malformed as e:
        return RouteResult(
            400, {"ok": False, "error": "not an Alertmanager v4 payload", "problem": str(e)[:200]}
        )
    request = AlertGroup(notification.group_key, notification.title, notification.alerts)
    reply = await requests.request(request, SOURCE, room, name="Alertmanager")
    text = clip(notice(notification, reply))
    target = {"rooms": (room,)} if room else {"announce": True}
    requests.owe(
        [(f"{SOURCE}:{reply.commit or notification.group_key}:{text}", Notify(text, **target))]
    )
    return RouteResult(
        200, {"ok": True, "incident": reply.extra.get("incident"), "commit": reply.commit}
    )


ROUTES = (Route("/alertmanager", section=ALERTS, handler=receive),)
