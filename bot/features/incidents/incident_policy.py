"""[incidents] in policy.toml: the incident roles a team adds, and who is brought in, per
severity.

    [incidents]
    roles = ["liaison"]              # incident roles besides commander, communications, scribe

    [incidents.notify]               # invited to a new incident's room, and mentioned when an
    sev1 = ["@oncall:example.org"]   # incident becomes this severity (keys sev1 .. sev5)

What cannot be read is left out: a role that is not a word, a person who is not a Matrix id.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from bot.core.ids import SEVERITIES
from bot.state.policy_reader import PolicyReader
from bot.state.policy_section import PolicySection

ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class IncidentPolicy:
    roles: tuple[str, ...] = ()
    """Incident roles besides commander, communications and scribe."""
    notify: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Who to bring in, per severity (`sev1 = [...]`)."""

    def notify_for(self, severity: str) -> tuple[str, ...]:
        return self.notify.get(severity, ())


def _read(table: dict[str, Any], read: PolicyReader) -> IncidentPolicy:
    roles = []
    for role in read.strings("incidents.roles", table.get("roles", [])) or []:
        if ROLE_NAME.fullmatch(role):
            roles.append(role)
        else:
            read.problem("incidents.roles", f"{role!r} must be a lowercase word like liaison")
    notify = read.table("incidents.notify", table.get("notify", {})) or {}
    people: dict[str, tuple[str, ...]] = {}
    for severity, members in notify.items():
        where = f"incidents.notify.{severity}"
        if severity not in SEVERITIES:
            read.problem(where, f"unknown field (known: {', '.join(SEVERITIES)})")
            continue
        people[severity] = tuple(dict.fromkeys(read.users(where, members)))
    return IncidentPolicy(tuple(dict.fromkeys(roles)), people)


INCIDENT_POLICY: PolicySection[IncidentPolicy] = PolicySection(
    "incidents",
    frozenset({"roles", "notify"}),
    _read,
    default=IncidentPolicy(),
    unreadable=IncidentPolicy(),  # no role added, nobody brought in
)
