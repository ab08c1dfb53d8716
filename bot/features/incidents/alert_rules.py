"""Incidents opened by alerts: `alerts/rules.toml` says which alerts are incidents, and how
severe; an alert's firing and resolution are entries of its incident's timeline."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.core.errors import InvalidRecord
from bot.core.ids import SEVERITIES
from bot.features.incidents.entries import TimelineEntry, entry
from bot.state.records import parse_toml

if TYPE_CHECKING:
    from bot.state.view import StateView


# Incidents opened by alerts: `alerts/rules.toml` says which alerts are incidents, and how
# severe. The first rule whose labels all match an alert applies, as in Alertmanager's routes:
#
#     [[rule]]
#     match = { severity = "critical" }
#     incident_severity = "sev2"

RULES = "alerts/rules.toml"
ALERT_STATES = ("firing", "resolved")


@dataclass(frozen=True)
class AlertRule:
    match: Mapping[str, str]
    severity: str
    # The alert labels naming the app and the environment whose deploy in force is the cause
    # of an incident this rule opens, like ("app", "env"); () names none.
    cause_labels: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(name) == value for name, value in self.match.items())


@dataclass(frozen=True)
class Alert:
    """One alert of an Alertmanager notification, as far as the timeline cares."""

    status: str  # "firing" or "resolved"
    labels: Mapping[str, str]
    fingerprint: str
    starts_at: str  # as Alertmanager sent it (RFC 3339)
    summary: str = ""  # its `summary` annotation (or `description`)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.status, self.fingerprint, self.starts_at)

    def describe(self) -> str:
        """`HighErrorRate {instance=web1, severity=critical}: error rate above 5%`."""
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()) if k != "alertname")
        text = self.name + (f" {{{shown}}}" if shown else "")
        if self.summary:
            text += f": {self.summary}"
        return " ".join(text.split())  # one line: newlines in labels would start a new event


def alert_rules(view: "StateView") -> tuple[AlertRule, ...]:
    text = view.text(RULES)
    if text is None:
        return ()
    data = parse_toml(RULES, text)
    for key in data:
        if key != "rule":
            raise InvalidRecord(RULES, key, "unknown key (write rules as [[rule]] tables)")
    rules = data.get("rule", [])
    if not isinstance(rules, list):
        raise InvalidRecord(RULES, "rule", "must be [[rule]] tables")
    found = []
    for number, rule in enumerate(rules, 1):
        where = f"rule {number}"
        if not isinstance(rule, dict):
            raise InvalidRecord(RULES, where, "must be a table")
        for key in rule:
            if key not in ("match", "incident_severity", "cause_labels"):
                raise InvalidRecord(
                    RULES,
                    f"{where}: {key}",
                    "unknown key (known: match, incident_severity, cause_labels)",
                )
        match = rule.get("match")
        if (
            not isinstance(match, dict)
            or not match
            or not all(isinstance(v, str) for v in match.values())
        ):
            raise InvalidRecord(
                RULES, f"{where}: match", 'must be a table of labels, like {severity = "critical"}'
            )
        severity = rule.get("incident_severity")
        if severity not in SEVERITIES:
            raise InvalidRecord(
                RULES, f"{where}: incident_severity", f"must be one of {', '.join(SEVERITIES)}"
            )
        cause = rule.get("cause_labels", [])
        if cause and (
            not isinstance(cause, list)
            or len(cause) != 2
            or not all(isinstance(v, str) and v for v in cause)
        ):
            raise InvalidRecord(
                RULES, f"{where}: cause_labels", 'must name two labels, like ["app", "env"]'
            )
        found.append(AlertRule(dict(match), severity, tuple(cause)))
    return tuple(found)


def rule_for(rules: tuple[AlertRule, ...], labels: Mapping[str, str]) -> AlertRule | None:
    return next((rule for rule in rules if rule.matches(labels)), None)


def alert_entry(at: datetime, who: str, alert: Alert) -> TimelineEntry:
    """The timeline entry of an alert. Its fingerprint and start name one firing of one alert:
    Alertmanager sends a group again and again while it fires, and the timeline must say each
    thing once, so they are kept as facts that `alerts_noted` reads back."""
    text = f"alert {alert.status}: {alert.describe()} [{alert.fingerprint} since {alert.starts_at}]"
    facts = {"status": alert.status, "fingerprint": alert.fingerprint, "since": alert.starts_at}
    return entry(at, who, "alert", text, **facts)


def alerts_noted(entries: Iterable[TimelineEntry]) -> set[tuple[str, str, str]]:
    """The (status, fingerprint, start) of every alert already in a timeline."""
    return {
        (e.facts["status"], e.facts["fingerprint"], e.facts["since"])
        for e in entries
        if e.kind == "alert" and {"status", "fingerprint", "since"} <= e.facts.keys()
    }
