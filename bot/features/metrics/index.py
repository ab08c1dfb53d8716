"""The metrics' tables in the index, kept as main changes (bot/state/index_tables.py):

- `incidents`: each incident's severity, status, times and cause, from its `incident.toml` as
  main's newest commit that touched it left it;
- `versions`: a version's source commit and build time, from `versions/<app>/<version>.toml`
  (recorded by a CI webhook).

Nothing here is read from a commit message: an incident's cause is its record's `cause` field.
"""

import sqlite3
import tomllib
from datetime import datetime

from bot.core.errors import InvalidRecord
from bot.features.incidents.records import ID as INCIDENT_ID
from bot.features.incidents.records import decode_incident
from bot.state.index_tables import IndexTable

INCIDENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, number INTEGER, severity TEXT, status TEXT, opened_at INTEGER,
    acknowledged_at INTEGER, mitigated_at INTEGER, resolved_at INTEGER, cause TEXT);
"""
VERSIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    app TEXT, version TEXT, source_commit TEXT, committed_at INTEGER, built_at INTEGER,
    PRIMARY KEY (app, version));
"""


def version_path(app: str, version: str) -> str:
    return f"versions/{app}/{version}.toml"


def _incident(conn: sqlite3.Connection, path: str, text: str | None) -> None:
    parts = path.split("/")
    if len(parts) != 3 or parts[2] != "incident.toml" or not INCIDENT_ID.fullmatch(parts[1]):
        return
    incident = parts[1]
    conn.execute("DELETE FROM incidents WHERE id = ?", [incident])
    if text is None:
        return
    try:
        record = decode_incident(incident, text)
    except InvalidRecord:
        return  # `opsbot check` names it; the metrics leave it out until it reads again
    conn.execute(
        "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            incident,
            record.number,
            record.severity,
            record.status,
            _ts(record.opened_at),
            _ts(record.acknowledged_at),
            _ts(record.mitigated_at),
            _ts(record.resolved_at),
            record.cause,
        ],
    )


def _version(conn: sqlite3.Connection, path: str, text: str | None) -> None:
    parts = path.split("/")
    if len(parts) != 3 or not parts[2].endswith(".toml"):
        return
    app, version = parts[1], parts[2].removesuffix(".toml")
    conn.execute("DELETE FROM versions WHERE app = ? AND version = ?", [app, version])
    if text is None:
        return
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    source = data.get("commit")
    committed, built = data.get("committed_at"), data.get("built_at")
    conn.execute(
        "INSERT INTO versions VALUES (?, ?, ?, ?, ?)",
        [
            app,
            version,
            source if isinstance(source, str) else None,
            _ts(committed) if isinstance(committed, datetime) else None,
            _ts(built) if isinstance(built, datetime) else None,
        ],
    )


def _ts(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


TABLES = (
    IndexTable("incidents", 1, INCIDENTS_SCHEMA, "incidents/", _incident),
    IndexTable("versions", 1, VERSIONS_SCHEMA, "versions/", _version),
)
