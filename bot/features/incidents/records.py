"""Incidents in the state repo: `incidents/INC-<n>/incident.toml` and its timeline.

incidents/INC-7/incident.toml    fields, rewritten by commands (a person's comments survive)
incidents/INC-7/timeline/        append-only: what happened and what was said, as data
                                 (see bot/features/incidents/timeline.py)
incidents/INC-7/postmortem.md    a draft written by `!incident postmortem`
alerts/rules.toml                which Alertmanager alerts open an incident, and how severe
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import tomlkit
from tomlkit.items import Table

from bot.core.errors import InvalidRecord
from bot.core.ids import INCIDENT_ID, INCIDENT_STATES, SEVERITIES, USER_ID, is_commit_id
from bot.features.incidents.alert_rules import alert_rules
from bot.features.incidents.timeline import read as read_timeline
from bot.state.records import decode, one_of, spec

if TYPE_CHECKING:
    from bot.state.view import StateView

DIRECTORY = "incidents"
STATES = INCIDENT_STATES
BUILTIN_ROLES = ("commander", "communications", "scribe")
ID = INCIDENT_ID


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # never read: `opened_at` is required


def _incident_id(value: str) -> str | None:
    return None if ID.fullmatch(value) else "is not an incident id like INC-7"


def _user(value: str) -> str | None:
    return None if USER_ID.fullmatch(value) else f"{value!r} is not a Matrix user id"


def _commit(value: str) -> str | None:
    return None if is_commit_id(value) else f"{value!r} is not a full commit id (40 hex digits)"


@dataclass(frozen=True)
class Incident:
    id: str = field(metadata=spec(from_path=True, shape=_incident_id))  # the directory's name
    title: str = field(default="", metadata=spec(required=True))
    severity: str = field(default="", metadata=spec(required=True, shape=one_of(*SEVERITIES)))
    status: str = field(default="", metadata=spec(required=True, shape=one_of(*STATES)))
    reporter: str = field(default="", metadata=spec(required=True, shape=_user))
    opened_at: datetime = field(default=_EPOCH, metadata=spec(required=True))
    roles: Mapping[str, str] = field(default_factory=dict, metadata=spec(each=_user))
    """role -> Matrix user id"""
    participants: tuple[str, ...] = field(default=(), metadata=spec(each=_user))
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    declared_in: str | None = None
    room: str | None = None
    summary: str = ""
    alert_group: str | None = None  # Alertmanager's groupKey, for an incident an alert opened
    cause: str | None = field(default=None, metadata=spec(shape=_commit))
    """The deploy commit (full sha) that caused it, as people named it."""

    @property
    def number(self) -> int:
        return number_of(self.id)

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"

    @property
    def commander(self) -> str:
        return self.roles.get("commander", self.reporter)


def number_of(incident: str) -> int:
    match = ID.fullmatch(incident)
    if match is None:
        raise ValueError(f"not an incident id: {incident!r}")
    return int(match.group(1))


def incident_dir(incident: str) -> str:
    return f"{DIRECTORY}/{incident}"


def record_path(incident: str) -> str:
    return f"{incident_dir(incident)}/incident.toml"


def postmortem_path(incident: str) -> str:
    return f"{incident_dir(incident)}/postmortem.md"


# Reading


def decode_incident(incident: str, text: str, path: str | None = None) -> Incident:
    return decode(Incident, path or record_path(incident), text, id=incident)


def incident_ids(view: "StateView") -> list[str]:
    """The ids of every incident directory, oldest first (whether or not its record reads)."""
    ids = [name for name in view.snapshot.list(DIRECTORY) if ID.fullmatch(name)]
    return sorted(ids, key=number_of)


def next_id(view: "StateView") -> str:
    """Numbers are never reused: incident directories are never deleted, so max + 1 is new."""
    return f"INC-{max((number_of(i) for i in incident_ids(view)), default=0) + 1}"


def load(view: "StateView", incident: str) -> Incident | None:
    path = record_path(incident)
    data = view.snapshot.read(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRecord(path, None, "not UTF-8 text") from None
    return decode_incident(incident, text, path)


def scan(view: "StateView") -> tuple[list[Incident], list[InvalidRecord]]:
    """Every incident whose record reads, and what is wrong with the others: one bad record
    (a hand edit, an old bug) must not stop every incident command for everyone."""
    found, bad = [], []
    for incident in incident_ids(view):
        try:
            record = load(view, incident)
        except InvalidRecord as e:
            bad.append(e)
            continue
        if record is not None:
            found.append(record)
    return found, bad


def load_all(view: "StateView") -> list[Incident]:
    """Every incident whose record reads (see `scan` for the others)."""
    return scan(view)[0]


def room_of(view: "StateView", incident: str) -> str | None:
    """The Matrix room recorded for an incident, for a transport sending to it."""
    try:
        record = load(view, incident) if ID.fullmatch(incident) else None
    except InvalidRecord:
        return None
    return record.room if record else None


def by_room(view: "StateView", room_id: str) -> Incident | None:
    """The incident whose room this is (the newest open one, should there be several)."""
    mine = [i for i in load_all(view) if i.room == room_id]
    mine.sort(key=lambda i: (i.is_open, i.number))
    return mine[-1] if mine else None


def by_alert_group(view: "StateView", group: str) -> Incident | None:
    """The open incident an Alertmanager alert group opened (the newest, should there be
    several)."""
    mine = [i for i in load_all(view) if i.alert_group == group and i.is_open]
    return max(mine, key=lambda i: i.number) if mine else None


def problems(view: "StateView") -> list[InvalidRecord]:
    """Every incident record, timeline entry (and the alert rules) that fails validation, for
    `opsbot check`."""
    found = scan(view)[1]
    for incident in incident_ids(view):
        found += read_timeline(view, incident).problems
    try:
        alert_rules(view)
    except InvalidRecord as e:
        found.append(e)
    return found


# Writing

HEADER = (
    "{id}: kept by opsbot. Commands rewrite these fields (comments you add survive);\n"
    "times are UTC and set by the bot. What happened is in timeline/, and\n"
    "`git log --grep '^Incident: {id}$'` is the incident's whole history."
)


def encode_incident(record: Incident, previous: str | None = None) -> str:
    """The TOML text of `record`, keeping everything of `previous` that did not change."""
    doc = tomlkit.parse(previous) if previous else tomlkit.document()
    if not previous:
        for line in HEADER.format(id=record.id).splitlines():
            doc.add(tomlkit.comment(line))
    scalars: dict[str, Any] = {
        "title": record.title,
        "severity": record.severity,
        "status": record.status,
        "reporter": record.reporter,
        "opened_at": record.opened_at,
        "acknowledged_at": record.acknowledged_at,
        "mitigated_at": record.mitigated_at,
        "resolved_at": record.resolved_at,
        "declared_in": record.declared_in,
        "room": record.room,
        "summary": record.summary or None,
        "participants": list(record.participants),
        "alert_group": record.alert_group,
        "cause": record.cause,
    }
    for key, value in scalars.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) != value:
            doc[key] = value
    roles = doc.get("roles")
    if not isinstance(roles, Table):
        roles = tomlkit.table()
        doc["roles"] = roles
    for role in [r for r in roles if r not in record.roles]:
        del roles[role]
    for role, user in record.roles.items():
        if roles.get(role) != user:
            roles[role] = user
    return tomlkit.dumps(doc)
