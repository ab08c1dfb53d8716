"""The index's tables of facts for the engineering metrics (features/metrics), from Git.

- `outcomes`: what the reconciler made of each deploy request, from the git notes under
  `refs/notes/opsbot` (the `Opsbot-Run` lines). Only the notes that changed since the notes tip
  last indexed are read again.
- `incidents`: each incident's severity, status, times and cause, from its `incident.toml` as
  main's newest commit that touched it left it.
- `versions`: a version's source commit and build time, from `versions/<app>/<version>.toml`
  (recorded by a CI webhook).

Nothing here is read from a commit message: a rollback is a rollback because the deployment
record says `command = "rollback"`, an incident's cause is its record's `cause` field.
"""

import json
import sqlite3
import tomllib
from datetime import datetime

from dulwich.diff_tree import tree_changes
from dulwich.objects import Tree

from bot.core.errors import InvalidRecord
from bot.state.incidents import ID as INCIDENT_ID
from bot.state.incidents import decode_incident
from bot.state.notes import NOTES, parse_note
from bot.state.repo import StateRepo

TABLES = """
CREATE TABLE IF NOT EXISTS outcomes (
    commit_sha TEXT, env TEXT, app TEXT, version TEXT, status TEXT, attempt INTEGER,
    final INTEGER, at INTEGER);
CREATE INDEX IF NOT EXISTS outcomes_target ON outcomes(env, app, at);
CREATE INDEX IF NOT EXISTS outcomes_commit ON outcomes(commit_sha);

CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, number INTEGER, severity TEXT, status TEXT, opened_at INTEGER,
    acknowledged_at INTEGER, mitigated_at INTEGER, resolved_at INTEGER, cause TEXT);
CREATE TABLE IF NOT EXISTS versions (
    app TEXT, version TEXT, source_commit TEXT, committed_at INTEGER, built_at INTEGER,
    PRIMARY KEY (app, version));
"""
FACT_TABLES = ("outcomes", "incidents", "versions")


def version_path(app: str, version: str) -> str:
    return f"versions/{app}/{version}.toml"


def on_change(conn: sqlite3.Connection, repo: StateRepo, path: str, blob: bytes | None) -> None:
    """Keeps the incidents and versions tables as main's commit that changed `path` left it
    (`blob` None: the file was removed)."""
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "incident.toml":
        if INCIDENT_ID.fullmatch(parts[1]):
            _incident(conn, repo, parts[1], blob)
    elif len(parts) == 3 and parts[0] == "versions" and parts[2].endswith(".toml"):
        _version(conn, repo, parts[1], parts[2].removesuffix(".toml"), blob)


def _text(repo: StateRepo, blob: bytes) -> str | None:
    try:
        return str(repo.git[blob].as_raw_string().decode())
    except UnicodeDecodeError:
        return None


def _incident(conn: sqlite3.Connection, repo: StateRepo, incident: str, blob: bytes | None) -> None:
    conn.execute("DELETE FROM incidents WHERE id = ?", [incident])
    text = _text(repo, blob) if blob else None
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


def _version(
    conn: sqlite3.Connection, repo: StateRepo, app: str, version: str, blob: bytes | None
) -> None:
    conn.execute("DELETE FROM versions WHERE app = ? AND version = ?", [app, version])
    text = _text(repo, blob) if blob else None
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


def sync_notes(conn: sqlite3.Connection, repo: StateRepo, done: str | None) -> str | None:
    """Brings `outcomes` up to the notes ref's tip from `done` (the tip last indexed); returns
    the new tip. Run inside the caller's transaction.

    The notes that changed are read first, then written in a few statements: each changed
    commit's outcomes are those of its note at the tip (none if it was removed), and its
    deployment rows are settled again."""
    tip = repo.tip(NOTES)
    if tip == done:
        return tip
    old_tree = None
    if done is not None:
        try:
            old_tree = repo.git[done.encode()].tree  # type: ignore[attr-defined]
        except KeyError:
            old_tree = None
    if old_tree is None or tip is None:
        conn.execute("DELETE FROM outcomes")
        conn.execute("UPDATE deployments SET applied_at = NULL, failed_at = NULL")
    if tip is None:
        return None
    new_tree = repo.git[tip.encode()].tree  # type: ignore[attr-defined]
    changed: set[str] = set()
    rows: list[tuple[object, ...]] = []
    for change in tree_changes(repo.git.object_store, old_tree, new_tree):
        entry = change.new if change.new and change.new.path else change.old
        assert entry is not None and entry.path is not None
        commit = entry.path.decode().replace("/", "")
        if len(commit) != 40:
            continue
        changed.add(commit)
        if change.new is None or change.new.sha is None:
            continue
        blob = repo.git[change.new.sha]
        if isinstance(blob, Tree):
            continue
        for o in parse_note(commit, blob.as_raw_string().decode("utf-8", "replace")):
            rows.append(
                (
                    commit,
                    o.env,
                    o.app,
                    o.version,
                    o.status,
                    o.attempt,
                    int(o.final),
                    int(o.at.timestamp()),
                )
            )
    shas = json.dumps(sorted(changed))
    if old_tree is not None:
        conn.execute(
            "DELETE FROM outcomes WHERE commit_sha IN (SELECT value FROM json_each(?))", [shas]
        )
    conn.executemany("INSERT INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(_SETTLE + "WHERE sha IN (SELECT value FROM json_each(?))", [shas])
    return tip


_SETTLE = """
UPDATE deployments SET
    applied_at = (SELECT MIN(at) FROM outcomes
                  WHERE commit_sha = deployments.sha AND status = 'ok'),
    failed_at = (SELECT MAX(at) FROM outcomes
                 WHERE commit_sha = deployments.sha AND status = 'failed' AND final = 1)
"""
"""What became of a deploy request, kept in its `deployments` row so that a window's deploys
are read in one pass: applied at its first `ok`, else failed for good at its last final
`failed`."""


def settle_since(conn: sqlite3.Connection, rowid: int) -> None:
    """The same, for the deploy rows after `rowid` whose notes were indexed before them (they
    are read first only when main and the notes were indexed by different syncs)."""
    conn.execute(_SETTLE + "WHERE rowid > ? AND sha IN (SELECT commit_sha FROM outcomes)", [rowid])
